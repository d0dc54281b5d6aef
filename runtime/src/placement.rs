//! Which worker polls which receive queue: pinned by configuration where given (as
//! OVS's `pmd-rxq-affinity`), the rest spread round robin over the workers in port
//! and queue order (as `pmd-rxq-assign=roundrobin` and VPP's default placement).

/// A receive queue pinned to a worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxqAffinity {
    pub port: u16,
    pub queue: u16,
    pub worker: usize,
}

/// Why a placement was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlacementError {
    #[error("rx queue affinity {port}:{queue}: the port has {queues} receive queue(s)")]
    NoSuchQueue { port: u16, queue: u16, queues: u16 },
    #[error(
        "rx queue affinity {port}:{queue}: worker {worker} does not exist ({workers} workers)"
    )]
    NoSuchWorker {
        port: u16,
        queue: u16,
        worker: usize,
        workers: usize,
    },
    #[error("rx queue affinity {port}:{queue}: given twice")]
    Duplicate { port: u16, queue: u16 },
}

/// The worker of each receive queue: `result[port][queue]`. `rx_queues[port]` is the
/// number of receive queues of each port.
pub fn place(
    rx_queues: &[u16],
    workers: usize,
    affinity: &[RxqAffinity],
) -> Result<Vec<Vec<usize>>, PlacementError> {
    let workers = workers.max(1);
    let mut placed: Vec<Vec<Option<usize>>> = rx_queues
        .iter()
        .map(|&n| vec![None; usize::from(n)])
        .collect();
    for pin in affinity {
        let queues = rx_queues.get(usize::from(pin.port)).copied().unwrap_or(0);
        let slot = placed
            .get_mut(usize::from(pin.port))
            .and_then(|port| port.get_mut(usize::from(pin.queue)))
            .ok_or(PlacementError::NoSuchQueue {
                port: pin.port,
                queue: pin.queue,
                queues,
            })?;
        if pin.worker >= workers {
            return Err(PlacementError::NoSuchWorker {
                port: pin.port,
                queue: pin.queue,
                worker: pin.worker,
                workers,
            });
        }
        if slot.replace(pin.worker).is_some() {
            return Err(PlacementError::Duplicate {
                port: pin.port,
                queue: pin.queue,
            });
        }
    }
    let mut next = 0;
    Ok(placed
        .into_iter()
        .map(|port| {
            port.into_iter()
                .map(|worker| {
                    worker.unwrap_or_else(|| {
                        let worker = next % workers;
                        next += 1;
                        worker
                    })
                })
                .collect()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_spread_round_robin_across_ports() {
        assert_eq!(
            place(&[2, 1, 2], 2, &[]).unwrap(),
            vec![vec![0, 1], vec![0], vec![1, 0]]
        );
    }

    #[test]
    fn pinned_queues_keep_their_worker_and_the_rest_spread() {
        let pin = RxqAffinity {
            port: 0,
            queue: 0,
            worker: 1,
        };
        assert_eq!(
            place(&[2, 1], 2, &[pin]).unwrap(),
            vec![vec![1, 0], vec![1]]
        );
    }

    #[test]
    fn bad_pins_are_refused_by_name() {
        let pin = |port, queue, worker| RxqAffinity {
            port,
            queue,
            worker,
        };
        assert!(matches!(
            place(&[1], 2, &[pin(0, 3, 0)]),
            Err(PlacementError::NoSuchQueue { queue: 3, .. })
        ));
        assert!(matches!(
            place(&[1], 2, &[pin(0, 0, 2)]),
            Err(PlacementError::NoSuchWorker { worker: 2, .. })
        ));
        assert!(matches!(
            place(&[1], 2, &[pin(0, 0, 0), pin(0, 0, 1)]),
            Err(PlacementError::Duplicate { .. })
        ));
    }
}
