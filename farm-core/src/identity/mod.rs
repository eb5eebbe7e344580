//! Who someone is: the farm's signed tokens, password hashing, and the external identity
//! providers (OpenID Connect, LDAP).

pub mod ldap;
pub mod oidc;
pub mod passwords;
pub mod sign_on;
pub mod tokens;

use crate::config::GroupRules;
use crate::domain::Role;

/// What a provider's groups say about a login: whether it may log in at all, and the role it
/// gives (`None`: the provider maps no roles, the account keeps its own).
pub fn role_from_groups(rules: &GroupRules, groups: &[String]) -> Result<Option<Role>, NotInLoginGroups> {
    let member = |list: &[String]| list.iter().any(|g| groups.iter().any(|have| have == g));
    if !rules.login_groups.is_empty() && !member(&rules.login_groups) {
        return Err(NotInLoginGroups);
    }
    if !rules.maps_roles() {
        return Ok(None);
    }
    Ok(Some(if member(&rules.admin_groups) {
        Role::Admin
    } else if member(&rules.reviewer_groups) {
        Role::Reviewer
    } else {
        Role::Member
    }))
}

#[derive(Debug, PartialEq, Eq)]
pub struct NotInLoginGroups;

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn groups_decide_who_logs_in_and_as_what() {
        let open = GroupRules::default();
        assert_eq!(role_from_groups(&open, &[]), Ok(None));
        let rules = GroupRules {
            login_groups: strings(&["staff", "students"]),
            admin_groups: strings(&["ops"]),
            reviewer_groups: strings(&["teachers"]),
        };
        assert_eq!(role_from_groups(&rules, &strings(&["guests"])), Err(NotInLoginGroups));
        assert_eq!(role_from_groups(&rules, &strings(&["students"])), Ok(Some(Role::Member)));
        assert_eq!(role_from_groups(&rules, &strings(&["staff", "teachers"])), Ok(Some(Role::Reviewer)));
        assert_eq!(role_from_groups(&rules, &strings(&["staff", "teachers", "ops"])), Ok(Some(Role::Admin)));
        let roles_only = GroupRules { admin_groups: strings(&["ops"]), ..GroupRules::default() };
        assert_eq!(role_from_groups(&roles_only, &[]), Ok(Some(Role::Member)));
    }
}
