//! PNG line charts (plotters, bitmap backend). Text is drawn with a TrueType font
//! found at run time (pure-Rust rasteriser, no system library linked); without one
//! the charts are drawn without text and the report says so.

use std::path::Path;

use plotters::coord::combinators::IntoLogRange;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

/// One line of a chart.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// Fonts tried in order: `BENCH_FONT`, then common locations of DejaVu and Liberation.
const FONT_PATHS: [&str; 6] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
];

/// Registers a font as "sans-serif"; returns its path, or None (charts without text).
pub fn load_font() -> Option<String> {
    let env = std::env::var("BENCH_FONT").ok();
    for path in env.iter().map(String::as_str).chain(FONT_PATHS) {
        let Ok(bytes) = std::fs::read(path) else {
            continue;
        };
        // Registered once per process, for its lifetime.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        if register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
            return Some(path.to_owned());
        }
    }
    None
}

/// Line colours, dark enough to read on white, in the order of the series.
const COLORS: [RGBColor; 10] = [
    RGBColor(200, 0, 0),
    RGBColor(0, 140, 0),
    RGBColor(0, 70, 220),
    RGBColor(230, 120, 0),
    RGBColor(130, 0, 170),
    RGBColor(0, 160, 170),
    RGBColor(220, 0, 170),
    RGBColor(140, 80, 20),
    RGBColor(100, 100, 100),
    RGBColor(0, 0, 0),
];

/// The chart's axes.
pub struct Axes<'a> {
    pub title: &'a str,
    pub x: &'a str,
    pub y: &'a str,
}

/// A chart of `series` over a logarithmic x axis, y from zero.
pub fn log_x_chart(path: &Path, axes: &Axes, series: &[Series], text: bool) -> Result<(), String> {
    let points = || series.iter().flat_map(|s| s.points.iter());
    let x_min = points().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let x_max = points().map(|p| p.0).fold(0.0, f64::max);
    // Headroom above the highest point for the legend.
    let y_max = points().map(|p| p.1).fold(0.0, f64::max) * 1.45;
    if !(x_min.is_finite() && x_max > x_min && y_max > 0.0) {
        return Err(format!("{}: nothing to plot", path.display()));
    }
    let root = BitMapBackend::new(path, (1000, 640)).into_drawing_area();
    let error = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    root.fill(&WHITE).map_err(|e| error(&e))?;
    let mut builder = ChartBuilder::on(&root);
    builder.margin(20);
    if text {
        builder
            .caption(axes.title, ("sans-serif", 26))
            .x_label_area_size(50)
            .y_label_area_size(80);
    }
    let mut chart = builder
        .build_cartesian_2d((x_min * 0.8..x_max * 1.25).log_scale(), 0.0..y_max)
        .map_err(|e| error(&e))?;
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.x_desc(axes.x)
            .y_desc(axes.y)
            .label_style(("sans-serif", 16))
            .axis_desc_style(("sans-serif", 18))
            .x_label_formatter(&|x| thousands(*x));
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(|e| error(&e))?;
    for (i, line) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()].to_rgba();
        let style = ShapeStyle::from(color).stroke_width(2);
        let drawn = chart
            .draw_series(LineSeries::new(line.points.iter().copied(), style))
            .map_err(|e| error(&e))?;
        if text {
            drawn
                .label(line.name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
        chart
            .draw_series(
                line.points
                    .iter()
                    .map(|&p| Circle::new(p, 4, color.filled())),
            )
            .map_err(|e| error(&e))?;
    }
    if text {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 16))
            .draw()
            .map_err(|e| error(&e))?;
    }
    root.present().map_err(|e| error(&e))
}

/// 1000 -> "1k", 1000000 -> "1M".
pub fn thousands(x: f64) -> String {
    if x >= 1e6 {
        format!("{}M", x / 1e6)
    } else if x >= 1e3 {
        format!("{}k", x / 1e3)
    } else {
        format!("{x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(text: bool) -> Vec<u8> {
        let path =
            std::env::temp_dir().join(format!("bench-chart-{}-{text}.png", std::process::id()));
        let series = [Series {
            name: "l2".into(),
            points: vec![(1e3, 2.0), (1e4, 1.9), (1e6, 1.5)],
        }];
        let axes = Axes {
            title: "t",
            x: "flows",
            y: "Mpps",
        };
        log_x_chart(&path, &axes, &series, text).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        bytes
    }

    #[test]
    fn charts_render_without_a_font() {
        assert!(render(false).starts_with(b"\x89PNG"));
    }

    #[test]
    fn charts_render_with_text_when_a_font_is_found() {
        if load_font().is_some() {
            assert!(render(true).starts_with(b"\x89PNG"));
        }
    }

    #[test]
    fn nothing_to_plot_is_an_error_not_a_panic() {
        let axes = Axes {
            title: "t",
            x: "x",
            y: "y",
        };
        let path = std::env::temp_dir().join("bench-chart-empty.png");
        assert!(log_x_chart(&path, &axes, &[], false).is_err());
    }
}
