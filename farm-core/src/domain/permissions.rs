//! Every rule of who may see or do what, in one place. Pure: each rule answers from the actor,
//! the farm's policy and the facts of the thing acted on, so the whole matrix is unit-tested
//! here and the use cases (and the adapters) only ask.
//!
//! Members see and manage what is theirs; others' wikis and requests are "not found" to them,
//! so that the API does not tell who owns what. Reviewers also see everything, work the
//! request queue and keep sandbox wikis. Admins do everything.

use super::{Actor, FarmMode};
use crate::error::FarmError;

/// How a member gets a wiki under the farm's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WayToAWiki {
    /// `POST /api/v1/wikis`: at once.
    Create,
    /// `POST /api/v1/wiki-requests`: reviewers decide.
    Request,
}

fn is_owner(actor: &Actor, owner: &str) -> bool {
    actor.username.as_str() == owner
}

/// Who holds a wiki: its owner and the managers the owner named (other farm accounts).
#[derive(Debug, Clone, Copy)]
pub struct WikiHolders<'a> {
    pub owner: &'a str,
    pub managers: &'a [String],
}

impl WikiHolders<'_> {
    fn owned_by(&self, actor: &Actor) -> bool {
        is_owner(actor, self.owner)
    }

    fn managed_by(&self, actor: &Actor) -> bool {
        self.managers.iter().any(|manager| is_owner(actor, manager))
    }
}

/// Whether `actor` may know the wiki exists: staff, its owner and its managers.
pub fn see_wiki(actor: &Actor, wiki: WikiHolders<'_>) -> Result<(), FarmError> {
    if actor.is_staff() || wiki.owned_by(actor) || wiki.managed_by(actor) {
        Ok(())
    } else {
        Err(FarmError::NotFound("wiki"))
    }
}

/// What only the owner or an admin does to a wiki; managers and reviewers see it but may not.
fn owner_or_admin(actor: &Actor, wiki: WikiHolders<'_>, why: &'static str) -> Result<(), FarmError> {
    see_wiki(actor, wiki)?;
    if actor.is_admin() || wiki.owned_by(actor) {
        Ok(())
    } else {
        Err(FarmError::Forbidden(why))
    }
}

/// The owner or an admin deletes, undeletes, renames and hands over a wiki.
pub fn delete_wiki(actor: &Actor, wiki: WikiHolders<'_>) -> Result<(), FarmError> {
    owner_or_admin(actor, wiki, "only the owner or an admin deletes, renames or hands over a wiki")
}

/// The owner, its managers or an admin see and change a wiki's settings (history, rollback,
/// logo and favicon too); reviewers see that the wiki exists, not how it is set up.
pub fn manage_settings(actor: &Actor, wiki: WikiHolders<'_>) -> Result<(), FarmError> {
    see_wiki(actor, wiki)?;
    if actor.is_admin() || wiki.owned_by(actor) || wiki.managed_by(actor) {
        Ok(())
    } else {
        Err(FarmError::Forbidden("only the owner, its managers or an admin see and change a wiki's settings"))
    }
}

/// The owner or an admin lists a wiki's backups, backs it up and restores it.
pub fn manage_backups(actor: &Actor, wiki: WikiHolders<'_>) -> Result<(), FarmError> {
    owner_or_admin(actor, wiki, "only the owner or an admin backs up and restores a wiki")
}

/// The owner or an admin exports a wiki (the archive holds all of it).
pub fn export_wiki(actor: &Actor, wiki: WikiHolders<'_>) -> Result<(), FarmError> {
    owner_or_admin(actor, wiki, "only the owner or an admin exports a wiki")
}

/// The owner or an admin names and removes a wiki's managers; everyone who sees the wiki sees
/// who they are.
pub fn change_managers(actor: &Actor, wiki: WikiHolders<'_>) -> Result<(), FarmError> {
    owner_or_admin(actor, wiki, "only the owner or an admin adds or removes a wiki's managers")
}

/// Whether the portal offers `actor` the wiki's settings page.
pub fn may_manage_settings(actor: &Actor, wiki: WikiHolders<'_>) -> bool {
    manage_settings(actor, wiki).is_ok()
}

/// Whether the portal offers `actor` to add and remove managers.
pub fn may_change_managers(actor: &Actor, wiki: WikiHolders<'_>) -> bool {
    change_managers(actor, wiki).is_ok()
}

/// Only admins purge a wiki from the trash before its time.
pub fn purge_wiki(actor: &Actor, wiki: WikiHolders<'_>) -> Result<(), FarmError> {
    see_wiki(actor, wiki)?;
    if actor.is_admin() {
        Ok(())
    } else {
        Err(FarmError::Forbidden("only an admin purges a wiki before its time in the trash is over"))
    }
}

/// Whether the portal offers `actor` to delete the wiki.
pub fn may_delete_wiki(actor: &Actor, wiki: WikiHolders<'_>) -> bool {
    delete_wiki(actor, wiki).is_ok()
}

/// Admins and reviewers make sandbox wikis permanent.
pub fn keep_wiki(actor: &Actor) -> Result<(), FarmError> {
    staff(actor, "only admins and reviewers keep sandbox wikis")
}

/// Whose wikis a list shows: members their own and those they manage (they may not filter by
/// owner; see [`lists_managed_wikis`]); staff anyone's (`None`: everyone's).
pub fn wikis_listed<'a>(actor: &'a Actor, owner: Option<&'a str>) -> Result<Option<&'a str>, FarmError> {
    match owner {
        _ if actor.is_staff() => Ok(owner),
        Some(_) => Err(FarmError::Forbidden("only admins and reviewers may list other owners' wikis")),
        None => Ok(Some(actor.username.as_str())),
    }
}

/// Whether a list of one owner's wikis also holds those they manage: members see theirs that
/// way; staff filtering by owner get exactly that owner's.
pub fn lists_managed_wikis(actor: &Actor) -> bool {
    !actor.is_staff()
}

/// Unconfirmed accounts may look but not create or request wikis.
pub fn confirmed(actor: &Actor) -> Result<(), FarmError> {
    if actor.confirmed {
        Ok(())
    } else {
        Err(FarmError::denied(
            "email_unconfirmed",
            "confirm your email address first (follow the link in the mail we sent)",
        ))
    }
}

/// How `actor` gets a wiki under `policy`: staff always create directly.
pub fn way_to_a_wiki(actor: &Actor, policy: FarmMode) -> WayToAWiki {
    if policy == FarmMode::Review && !actor.is_staff() {
        WayToAWiki::Request
    } else {
        WayToAWiki::Create
    }
}

/// Creating a wiki directly.
pub fn create_wiki(actor: &Actor, policy: FarmMode) -> Result<(), FarmError> {
    confirmed(actor)?;
    match way_to_a_wiki(actor, policy) {
        WayToAWiki::Create => Ok(()),
        WayToAWiki::Request => Err(FarmError::denied(
            "review_required",
            "this farm reviews new wikis: send a request to POST /api/v1/wiki-requests",
        )),
    }
}

/// Sending a wiki request (only farms that review them take any).
pub fn request_wiki(actor: &Actor, policy: FarmMode) -> Result<(), FarmError> {
    if policy != FarmMode::Review {
        return Err(FarmError::denied(
            "requests_off",
            "this farm does not review requests: create the wiki with POST /api/v1/wikis",
        ));
    }
    confirmed(actor)
}

/// Quotas and creation rate limits hold for members, not for staff.
pub fn limited(actor: &Actor) -> bool {
    !actor.is_staff()
}

/// A wiki `actor` creates under `policy` expires unless kept.
pub fn sandboxed(actor: &Actor, policy: FarmMode) -> bool {
    policy == FarmMode::Sandbox && !actor.is_staff()
}

/// Only admins put a wiki on a backend of their choice.
pub fn choose_backend(actor: &Actor) -> Result<(), FarmError> {
    admin(actor, "only admins choose a wiki's backend")
}

/// Where a wiki's files and database live: for admins only.
pub fn see_storage(actor: &Actor) -> bool {
    actor.is_admin()
}

/// Why a wiki could not be built, in full (paths, commands): admins only; owners get a
/// summary.
pub fn see_failure_details(actor: &Actor) -> bool {
    actor.is_admin()
}

/// Whether `actor` may know the request sent by `requester` exists.
pub fn see_request(actor: &Actor, requester: &str) -> Result<(), FarmError> {
    if actor.is_staff() || is_owner(actor, requester) {
        Ok(())
    } else {
        Err(FarmError::NotFound("request"))
    }
}

/// Whose requests a list shows: members their own (they may not filter by requester); staff
/// anyone's.
pub fn requests_listed<'a>(actor: &'a Actor, requester: Option<&'a str>) -> Result<Option<&'a str>, FarmError> {
    match requester {
        _ if actor.is_staff() => Ok(requester),
        Some(_) => Err(FarmError::Forbidden("only reviewers and admins see others' requests")),
        None => Ok(Some(actor.username.as_str())),
    }
}

/// The requester edits their request.
pub fn edit_request(actor: &Actor, requester: &str) -> Result<(), FarmError> {
    see_request(actor, requester)?;
    if is_owner(actor, requester) {
        Ok(())
    } else {
        Err(FarmError::Forbidden("only the requester edits a request"))
    }
}

/// The requester withdraws their request.
pub fn withdraw_request(actor: &Actor, requester: &str) -> Result<(), FarmError> {
    see_request(actor, requester)?;
    if is_owner(actor, requester) {
        Ok(())
    } else {
        Err(FarmError::Forbidden("only the requester withdraws a request"))
    }
}

/// Whoever sees a request may comment on it (the requester's comment answers a question).
pub fn comment_on_request(actor: &Actor, requester: &str) -> Result<(), FarmError> {
    see_request(actor, requester)
}

/// Reviewers and admins decide on requests and see the queue.
pub fn review_requests(actor: &Actor) -> Result<(), FarmError> {
    staff(actor, "only reviewers and admins decide on requests")
}

/// The farm's machinery (database servers, the pool, the overview): admins.
pub fn see_farm(actor: &Actor) -> Result<(), FarmError> {
    admin(actor, "only admins see the farm's servers, pool and overview")
}

/// Maintenance runs (a script over many wikis, as their own database accounts): admins.
pub fn run_maintenance(actor: &Actor) -> Result<(), FarmError> {
    admin(actor, "only admins run maintenance scripts and see their runs")
}

pub fn read_audit_log(actor: &Actor) -> Result<(), FarmError> {
    admin(actor, "only admins read the audit log")
}

pub fn list_accounts(actor: &Actor) -> Result<(), FarmError> {
    admin(actor, "only admins list accounts")
}

pub fn set_roles(actor: &Actor) -> Result<(), FarmError> {
    admin(actor, "only admins change roles")
}

fn admin(actor: &Actor, why: &'static str) -> Result<(), FarmError> {
    if actor.is_admin() {
        Ok(())
    } else {
        Err(FarmError::Forbidden(why))
    }
}

fn staff(actor: &Actor, why: &'static str) -> Result<(), FarmError> {
    if actor.is_staff() {
        Ok(())
    } else {
        Err(FarmError::Forbidden(why))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Role, Username};

    fn actor(name: &str, role: Role) -> Actor {
        Actor { username: Username::parse(name).expect("name"), role, confirmed: true, account_id: 1 }
    }

    /// "ok", "not_found", "forbidden" or another code.
    fn outcome(result: Result<(), FarmError>) -> &'static str {
        match result {
            Ok(()) => "ok",
            Err(err) => err.code(),
        }
    }

    #[test]
    fn the_wiki_matrix() {
        let (admin, reviewer, owner, manager, other) = (
            actor("ada", Role::Admin),
            actor("rev", Role::Reviewer),
            actor("olga", Role::Member),
            actor("max", Role::Member),
            actor("mel", Role::Member),
        );
        let managers = ["max".to_owned()];
        let wiki = WikiHolders { owner: "olga", managers: &managers };
        // (actor, see, settings, owner's (delete, rename, transfer, back up, export, managers),
        // purge, keep, choose backend, storage and failure details)
        let rows = [
            (&admin, "ok", "ok", "ok", "ok", "ok", "ok", true),
            (&reviewer, "ok", "forbidden", "forbidden", "forbidden", "ok", "forbidden", false),
            (&owner, "ok", "ok", "ok", "forbidden", "forbidden", "forbidden", false),
            (&manager, "ok", "ok", "forbidden", "forbidden", "forbidden", "forbidden", false),
            (&other, "not_found", "not_found", "not_found", "not_found", "forbidden", "forbidden", false),
        ];
        for (who, see, settings, owners, purge, keep, backend, details) in rows {
            let name = who.username.as_str();
            assert_eq!(outcome(see_wiki(who, wiki)), see, "{name} sees");
            assert_eq!(outcome(manage_settings(who, wiki)), settings, "{name} manages settings");
            assert_eq!(may_manage_settings(who, wiki), settings == "ok");
            assert_eq!(outcome(delete_wiki(who, wiki)), owners, "{name} deletes, renames, transfers");
            assert_eq!(outcome(manage_backups(who, wiki)), owners, "{name} backs up and restores");
            assert_eq!(outcome(export_wiki(who, wiki)), owners, "{name} exports");
            assert_eq!(outcome(change_managers(who, wiki)), owners, "{name} changes managers");
            assert_eq!(may_delete_wiki(who, wiki), owners == "ok");
            assert_eq!(may_change_managers(who, wiki), owners == "ok");
            assert_eq!(outcome(purge_wiki(who, wiki)), purge, "{name} purges");
            assert_eq!(outcome(keep_wiki(who)), keep, "{name} keeps");
            assert_eq!(outcome(choose_backend(who)), backend, "{name} chooses a backend");
            assert_eq!(see_storage(who), details);
            assert_eq!(see_failure_details(who), details);
        }
        // A manager of one wiki is a stranger to another of the same owner.
        let unmanaged = WikiHolders { owner: "olga", managers: &[] };
        assert_eq!(outcome(see_wiki(&manager, unmanaged)), "not_found");
        assert_eq!(outcome(manage_settings(&manager, unmanaged)), "not_found");
    }

    #[test]
    fn lists_show_members_their_own() {
        let (admin, member) = (actor("ada", Role::Admin), actor("mel", Role::Member));
        assert_eq!(wikis_listed(&admin, None).expect("ok"), None);
        assert_eq!(wikis_listed(&admin, Some("mel")).expect("ok"), Some("mel"));
        assert_eq!(wikis_listed(&member, None).expect("ok"), Some("mel"));
        assert!(lists_managed_wikis(&member) && !lists_managed_wikis(&admin));
        assert!(!lists_managed_wikis(&actor("rev", Role::Reviewer)));
        assert_eq!(wikis_listed(&member, Some("mel")).expect_err("a filter").code(), "forbidden");
        assert_eq!(wikis_listed(&member, Some("ada")).expect_err("others'").code(), "forbidden");
        assert_eq!(requests_listed(&actor("rev", Role::Reviewer), Some("mel")).expect("ok"), Some("mel"));
        assert_eq!(requests_listed(&member, None).expect("ok"), Some("mel"));
        assert_eq!(requests_listed(&member, Some("ada")).expect_err("others'").code(), "forbidden");
    }

    #[test]
    fn creating_under_each_policy() {
        let (admin, member) = (actor("ada", Role::Admin), actor("mel", Role::Member));
        let unconfirmed = Actor { confirmed: false, ..member.clone() };
        for (policy, member_way, member_create, member_request) in [
            (FarmMode::Open, WayToAWiki::Create, "ok", "requests_off"),
            (FarmMode::Sandbox, WayToAWiki::Create, "ok", "requests_off"),
            (FarmMode::Review, WayToAWiki::Request, "review_required", "ok"),
        ] {
            assert_eq!(way_to_a_wiki(&member, policy), member_way, "{policy:?}");
            assert_eq!(way_to_a_wiki(&admin, policy), WayToAWiki::Create, "staff create directly");
            assert_eq!(outcome(create_wiki(&member, policy)), member_create, "{policy:?}");
            assert_eq!(outcome(create_wiki(&admin, policy)), "ok");
            assert_eq!(outcome(request_wiki(&member, policy)), member_request, "{policy:?}");
            assert_eq!(outcome(create_wiki(&unconfirmed, policy)), "email_unconfirmed");
            assert_eq!(sandboxed(&member, policy), policy == FarmMode::Sandbox);
            assert!(!sandboxed(&admin, policy), "staff wikis never expire");
        }
        assert_eq!(outcome(request_wiki(&unconfirmed, FarmMode::Review)), "email_unconfirmed");
        assert!(limited(&member) && !limited(&admin) && !limited(&actor("rev", Role::Reviewer)));
    }

    #[test]
    fn the_request_matrix() {
        let (admin, reviewer, requester, other) = (
            actor("ada", Role::Admin),
            actor("rev", Role::Reviewer),
            actor("rita", Role::Member),
            actor("mel", Role::Member),
        );
        // (actor, see, edit, withdraw, comment, review)
        let rows = [
            (&admin, "ok", "forbidden", "forbidden", "ok", "ok"),
            (&reviewer, "ok", "forbidden", "forbidden", "ok", "ok"),
            (&requester, "ok", "ok", "ok", "ok", "forbidden"),
            (&other, "not_found", "not_found", "not_found", "not_found", "forbidden"),
        ];
        for (who, see, edit, withdraw, comment, review) in rows {
            let name = who.username.as_str();
            assert_eq!(outcome(see_request(who, "rita")), see, "{name} sees");
            assert_eq!(outcome(edit_request(who, "rita")), edit, "{name} edits");
            assert_eq!(outcome(withdraw_request(who, "rita")), withdraw, "{name} withdraws");
            assert_eq!(outcome(comment_on_request(who, "rita")), comment, "{name} comments");
            assert_eq!(outcome(review_requests(who)), review, "{name} reviews");
        }
    }

    #[test]
    fn the_farm_is_for_admins() {
        for (who, expected) in [
            (actor("ada", Role::Admin), "ok"),
            (actor("rev", Role::Reviewer), "forbidden"),
            (actor("mel", Role::Member), "forbidden"),
        ] {
            for rule in [see_farm, read_audit_log, list_accounts, set_roles, run_maintenance] {
                assert_eq!(outcome(rule(&who)), expected, "{}", who.username);
            }
        }
    }
}
