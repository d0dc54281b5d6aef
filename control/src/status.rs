//! Which gRPC status a refused change gets. The validator's errors name the object and
//! field in words; the kind of refusal is read from those words (pinned by the tests
//! below, so a reworded message that would change a status fails here first).

use tonic::{Code, Status};

use topology::TopologyError;

/// What a request was doing when it was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Create,
    Update,
    Delete { section: &'static str },
    Apply,
}

pub fn refused(error: &TopologyError, op: Op) -> Status {
    let message = error.to_string();
    let TopologyError::Invalid {
        section,
        name,
        field,
        message: why,
    } = error
    else {
        return Status::invalid_argument(message);
    };
    let reference = why.starts_with("unknown ") && !why.starts_with("unknown value");
    if let Op::Delete { section: deleted } = op {
        if reference {
            // What is gone is still referred to: the deleted object is in use.
            let object = why.trim_start_matches("unknown ");
            return Status::failed_precondition(format!(
                "{deleted}: {object} is in use by {section} \"{name}\" ({field})"
            ));
        }
    }
    let code = if reference {
        Code::NotFound
    } else if why.contains("defined twice")
        || why.contains("is already used by")
        || why.contains("is already the vtep_ip")
        || why.contains("is already logical port")
    {
        Code::AlreadyExists
    } else if why.contains("is already in ") || why.contains("is already attached to") {
        Code::FailedPrecondition
    } else {
        Code::InvalidArgument
    };
    Status::new(code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(section: &'static str, field: &'static str, message: &str) -> TopologyError {
        TopologyError::Invalid {
            section,
            name: "x".into(),
            field,
            message: message.into(),
        }
    }

    #[test]
    fn each_kind_of_refusal_has_its_code() {
        let cases = [
            ("unknown chassis \"compute-9\"", Code::NotFound),
            (
                "unknown value \"nsh2\"; expected one of: none",
                Code::InvalidArgument,
            ),
            (
                "1001 is already used by network \"green-net\"",
                Code::AlreadyExists,
            ),
            (
                "defined twice (entries 1 and 2 of [[networks]])",
                Code::AlreadyExists,
            ),
            (
                "flow classifier \"fc\" is already in port chain \"c\"",
                Code::FailedPrecondition,
            ),
            (
                "network \"n\" is already attached to router \"r\"",
                Code::FailedPrecondition,
            ),
            ("\"10.0.0\" is not an IP address", Code::InvalidArgument),
        ];
        for (message, code) in cases {
            let status = refused(&invalid("networks", "vni", message), Op::Create);
            assert_eq!(status.code(), code, "{message}");
            assert_eq!(status.message(), format!("networks \"x\": vni: {message}"));
        }
    }

    #[test]
    fn a_dangling_reference_after_delete_means_in_use() {
        let error = invalid(
            "port_chains",
            "port_pair_groups",
            "unknown port pair group \"fw\"",
        );
        let status = refused(
            &error,
            Op::Delete {
                section: "port_pair_groups",
            },
        );
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(
            status.message(),
            "port_pair_groups: port pair group \"fw\" is in use by port_chains \"x\" (port_pair_groups)"
        );
    }
}
