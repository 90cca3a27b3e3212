//! Service areas (tjenesteområder) and the people who own them: each area has a regional
//! system owner (systemeier) and a system responsible (systemansvarlig), who handle the
//! area's needs and forward them to the portfolio. A need remembers which of the two
//! forwarded it, as that party was at the time.

use serde::Serialize;

use crate::error::DomainError;
use crate::macros::wire_enum;
use crate::need::validate_text;
use crate::organisation::OrgNumber;

/// Longest role or person name of a system owner or system responsible, in characters.
pub const PARTY_NAME_MAX: usize = 200;

wire_enum! {
    /// Which of a service area's two parties forwarded a need.
    pub enum ForwardingRole {
        /// The regional system owner (systemeier).
        SystemOwner => "system_owner",
        /// The system responsible (systemansvarlig).
        SystemResponsible => "system_responsible",
    }
}

/// A system owner or system responsible: an organisation and a role or person name
/// (e.g. `"Fagdirektør"` or `"Kari Nordmann"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Party {
    /// The organisation the owner or responsible belongs to.
    pub org_number: OrgNumber,
    /// Role or person name.
    pub name: String,
}

impl Party {
    /// A party with a checked name; `field` names the party in errors (`system_owner`).
    pub fn new(field: &str, org_number: OrgNumber, name: &str) -> Result<Self, DomainError> {
        let name = name.trim();
        validate_text(&format!("{field}.name"), name, PARTY_NAME_MAX, true)?;
        Ok(Self {
            org_number,
            name: name.to_owned(),
        })
    }
}

/// The two parties of a service area, either of which may not be appointed yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owners {
    /// The regional system owner.
    pub system_owner: Option<Party>,
    /// The system responsible.
    pub system_responsible: Option<Party>,
}

impl Owners {
    /// Who forwarded a need, as recorded on it: the area's party in that role. Refused
    /// when the area has nobody in the role (`field` names the request field).
    pub fn forwarder(
        &self,
        field: &str,
        area: &str,
        role: ForwardingRole,
    ) -> Result<Party, DomainError> {
        let party = match role {
            ForwardingRole::SystemOwner => &self.system_owner,
            ForwardingRole::SystemResponsible => &self.system_responsible,
        };
        party.clone().ok_or_else(|| {
            DomainError::invalid(
                field,
                format!("the service area {area:?} has no {role} to have forwarded the need"),
            )
        })
    }
}

/// A need names who forwarded it only together with the service area it came through.
pub fn check_forwarding(
    service_area: Option<&str>,
    forwarded_by: Option<ForwardingRole>,
) -> Result<(), DomainError> {
    match (service_area, forwarded_by) {
        (None, Some(_)) => Err(DomainError::invalid(
            "forwarded_by",
            "a need is forwarded by its service area's system owner or system responsible; give service_area_id too",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(n: &str) -> OrgNumber {
        OrgNumber::parse(n).expect("valid org number")
    }

    fn field_of(e: DomainError) -> String {
        match e {
            DomainError::Invalid { field, .. } => field.to_string(),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn wire_texts() {
        crate::macros::assert_wire_enum(ForwardingRole::ALL, ForwardingRole::as_str);
    }

    #[test]
    fn party_names_are_checked_and_trimmed() {
        let p = Party::new("system_owner", org("993467049"), "  Fagdirektør ").expect("valid");
        assert_eq!(p.name, "Fagdirektør");
        let e = Party::new("system_owner", org("993467049"), "   ").expect_err("blank");
        assert_eq!(field_of(e), "system_owner.name");
        let long = "x".repeat(PARTY_NAME_MAX + 1);
        let e = Party::new("system_responsible", org("993467049"), &long).expect_err("long");
        assert_eq!(field_of(e), "system_responsible.name");
    }

    #[test]
    fn the_forwarder_is_the_party_in_that_role() {
        let owner = Party::new("system_owner", org("991324968"), "Kari Nordmann").expect("ok");
        let owners = Owners {
            system_owner: Some(owner.clone()),
            system_responsible: None,
        };
        assert_eq!(
            owners.forwarder("forwarded_by", "Mor og barn", ForwardingRole::SystemOwner),
            Ok(owner)
        );
        let e = owners
            .forwarder(
                "forwarded_by",
                "Mor og barn",
                ForwardingRole::SystemResponsible,
            )
            .expect_err("nobody appointed");
        assert_eq!(field_of(e), "forwarded_by");
    }

    #[test]
    fn forwarding_needs_a_service_area() {
        assert!(check_forwarding(None, None).is_ok());
        assert!(check_forwarding(Some("a"), None).is_ok());
        assert!(check_forwarding(Some("a"), Some(ForwardingRole::SystemOwner)).is_ok());
        let e = check_forwarding(None, Some(ForwardingRole::SystemOwner)).expect_err("no area");
        assert_eq!(field_of(e), "forwarded_by");
    }
}
