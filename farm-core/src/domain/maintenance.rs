//! Maintenance runs as a caller asks for them: the script's name, its arguments, which wikis,
//! and how; each checked for shape here, before anything is looked up. Whether the script
//! exists in the codebase is [`crate::mediawiki::resolve_script`]'s to say.

use super::{Backend, WikiName, WikiState};
use crate::error::FarmError;

/// Most arguments a script gets, the longest one, and all of them together (bytes).
pub const MAX_ARGS: usize = 64;
pub const MAX_ARG_BYTES: usize = 4096;
pub const MAX_ARGS_TOTAL_BYTES: usize = 8 * 1024;
/// The longest script name.
pub const MAX_SCRIPT_LEN: usize = 200;
/// Most scripts of one run at the same time.
pub const MAX_PARALLEL: u32 = 64;
/// The longest time-out per wiki, in seconds (a day).
pub const MAX_TIMEOUT_SECS: u64 = 24 * 3600;
/// Most retries of a wiki whose script failed.
pub const MAX_RETRIES: u32 = 5;
/// Most wikis a selection names one by one.
pub const MAX_SELECTED_NAMES: usize = 10_000;
/// The script that brings a wiki's schema up to date, and which the runner skips for wikis
/// whose schema is current.
pub const UPDATE_SCRIPT: &str = "maintenance/update.php";

/// A script named by its path in the codebase, checked for shape: `maintenance/x.php` (or
/// just `x.php`) for MediaWiki's own, `extensions/NAME/.../x.php` for an extension's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptName {
    /// Relative to the codebase, `/`-separated, without `.` or `..`.
    pub relative: String,
    /// The extension whose folder holds it, if it is an extension's.
    pub extension: Option<String>,
}

impl ScriptName {
    pub fn parse(input: &str) -> Result<Self, FarmError> {
        let invalid = |message: String| FarmError::invalid("script", "script_invalid", message);
        let outside = || {
            FarmError::invalid(
                "script",
                "script_outside_codebase",
                format!(
                    "{input:?} is not a script of the codebase: name one under maintenance/ (update.php, \
                     maintenance/refreshLinks.php) or an extension's (extensions/NAME/maintenance/x.php)"
                ),
            )
        };
        if input.is_empty() || input.len() > MAX_SCRIPT_LEN {
            return Err(invalid(format!("a script's name has 1 to {MAX_SCRIPT_LEN} characters")));
        }
        if input.starts_with('/') || input.starts_with('~') || input.contains('\\') {
            return Err(outside());
        }
        let parts: Vec<&str> = input.split('/').collect();
        if parts.iter().any(|p| *p == "." || *p == "..") {
            return Err(outside());
        }
        let plain = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !parts.iter().all(|p| plain(p)) {
            return Err(invalid(format!(
                "{input:?}: a script's path has letters, digits, '_', '.', '-' and '/' between names only"
            )));
        }
        let file = parts.last().copied().unwrap_or_default();
        if file.len() <= 4 || !file.ends_with(".php") {
            return Err(invalid(format!("{input:?} is not a PHP file: maintenance scripts end in .php")));
        }
        match parts.as_slice() {
            [_] => Ok(Self { relative: format!("maintenance/{input}"), extension: None }),
            ["maintenance", ..] => Ok(Self { relative: input.to_owned(), extension: None }),
            ["extensions", extension, _, ..] if crate::domain::settings::is_component_id(extension) => {
                Ok(Self { relative: input.to_owned(), extension: Some((*extension).to_owned()) })
            }
            _ => Err(outside()),
        }
    }

    /// Whether this is MediaWiki's schema updater.
    pub fn is_update(&self) -> bool {
        self.relative == UPDATE_SCRIPT
    }
}

/// Checks a script's arguments: they are passed to PHP as they are, one argv entry each,
/// never through a shell; so any character but NUL is fine. The runner gives each wiki's
/// `--wiki` itself, and `--conf` would point MediaWiki at another configuration.
pub fn check_args(args: &[String]) -> Result<(), FarmError> {
    let invalid = |message: String| FarmError::invalid("args", "argument_invalid", message);
    if args.len() > MAX_ARGS {
        return Err(invalid(format!("at most {MAX_ARGS} arguments")));
    }
    let mut total = 0;
    for (i, arg) in args.iter().enumerate() {
        if arg.contains('\0') {
            return Err(invalid(format!("argument {} holds a NUL character", i + 1)));
        }
        if arg.len() > MAX_ARG_BYTES {
            return Err(invalid(format!("argument {} is longer than {MAX_ARG_BYTES} bytes", i + 1)));
        }
        total += arg.len();
        let option = arg.split('=').next().unwrap_or_default();
        if matches!(option, "--wiki" | "--conf") {
            return Err(FarmError::invalid(
                "args",
                "argument_reserved",
                format!("{option} is not for the caller to give: the runner names each wiki and its configuration"),
            ));
        }
    }
    if total > MAX_ARGS_TOTAL_BYTES {
        return Err(invalid(format!("the arguments together are longer than {MAX_ARGS_TOTAL_BYTES} bytes")));
    }
    Ok(())
}

/// Which wikis a run is for, as a caller writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SelectionInput {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wikis: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
}

/// Which wikis a run is for, checked: every served wiki (`all`), or those that match every
/// criterion given. Only served wikis (active or locked) run scripts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub wikis: Option<Vec<WikiName>>,
    pub backend: Option<Backend>,
    pub server: Option<String>,
    pub state: Option<WikiState>,
    pub extension: Option<String>,
}

impl Selection {
    pub fn parse(input: &SelectionInput) -> Result<Self, FarmError> {
        let invalid = |message: String| FarmError::invalid("selection", "selection_invalid", message);
        let criteria = input.wikis.is_some()
            || input.backend.is_some()
            || input.server.is_some()
            || input.state.is_some()
            || input.extension.is_some();
        if input.all && criteria {
            return Err(invalid("\"all\" goes alone: leave it out to choose wikis by names or criteria".into()));
        }
        if !input.all && !criteria {
            return Err(FarmError::invalid(
                "selection",
                "selection_missing",
                "say which wikis: \"all\": true, \"wikis\": [names], or a backend, server, state or extension".into(),
            ));
        }
        let wikis = match &input.wikis {
            None => None,
            Some(names) if names.is_empty() => return Err(invalid("\"wikis\" lists no wiki".into())),
            Some(names) if names.len() > MAX_SELECTED_NAMES => {
                return Err(invalid(format!("\"wikis\" lists at most {MAX_SELECTED_NAMES} names")))
            }
            Some(names) => {
                let mut parsed = Vec::with_capacity(names.len());
                for name in names {
                    let wiki = WikiName::parse(name).map_err(|_| invalid(format!("{name:?} is not a wiki name")))?;
                    if !parsed.contains(&wiki) {
                        parsed.push(wiki);
                    }
                }
                Some(parsed)
            }
        };
        let backend = input
            .backend
            .as_deref()
            .map(|b| Backend::parse(b).ok_or_else(|| invalid(format!("backend is sqlite or mariadb, not {b:?}"))))
            .transpose()?;
        let server = match input.server.as_deref() {
            None => None,
            Some(s)
                if !s.is_empty()
                    && s.len() <= 32
                    && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
            {
                Some(s.to_owned())
            }
            Some(s) => return Err(invalid(format!("{s:?} is not a database server's name"))),
        };
        let state = match input.state.as_deref() {
            None => None,
            Some("active") => Some(WikiState::Active),
            Some("locked") => Some(WikiState::Locked),
            Some(s) => {
                return Err(invalid(format!("state is active or locked (only served wikis run scripts), not {s:?}")))
            }
        };
        let extension = match input.extension.as_deref() {
            None => None,
            Some(e) if crate::domain::settings::is_component_id(e) => Some(e.to_owned()),
            Some(e) => return Err(invalid(format!("{e:?} is not an extension's name"))),
        };
        Ok(Self { wikis, backend, server, state, extension })
    }
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// Waits for the run before it.
    Queued,
    Running,
    /// Every wiki finished (some may have failed).
    Done,
    Cancelled,
}

impl RunState {
    pub const ALL: [Self; 4] = [Self::Queued, Self::Running, Self::Done, Self::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }

    pub fn is_finished(self) -> bool {
        matches!(self, Self::Done | Self::Cancelled)
    }
}

/// Where one wiki of a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RunWikiState {
    Pending,
    Running,
    /// The script exited with status 0.
    Done,
    /// It exited with another status (or could not start).
    Failed,
    /// It was still running at the time-out: its process group was killed.
    TimedOut,
    /// farmd stopped while it ran; not run again unless the run has retries left.
    Interrupted,
    /// Not run: nothing to do (update.php on a current schema), or the wiki is not served.
    Skipped,
    Cancelled,
}

impl RunWikiState {
    pub const ALL: [Self; 8] = [
        Self::Pending,
        Self::Running,
        Self::Done,
        Self::Failed,
        Self::TimedOut,
        Self::Interrupted,
        Self::Skipped,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::TimedOut => "timed_out",
            Self::Interrupted => "interrupted",
            Self::Skipped => "skipped",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }

    /// The script did not succeed: failed, timed out or interrupted.
    pub fn is_failure(self) -> bool {
        matches!(self, Self::Failed | Self::TimedOut | Self::Interrupted)
    }

    /// Nothing more happens to the wiki in this run.
    pub fn is_finished(self) -> bool {
        !matches!(self, Self::Pending | Self::Running)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(result: Result<impl std::fmt::Debug, FarmError>) -> &'static str {
        result.expect_err("refused").code()
    }

    #[test]
    fn scripts_are_core_or_an_extension_s_and_never_leave_the_codebase() {
        let core = ScriptName::parse("update.php").expect("core");
        assert_eq!(core, ScriptName { relative: "maintenance/update.php".into(), extension: None });
        assert!(core.is_update());
        let nested = ScriptName::parse("maintenance/storage/compressOld.php").expect("nested");
        assert_eq!(nested.relative, "maintenance/storage/compressOld.php");
        assert!(!nested.is_update());
        let extension = ScriptName::parse("extensions/AbuseFilter/maintenance/updateVarDumps.php").expect("ext");
        assert_eq!(extension.extension.as_deref(), Some("AbuseFilter"));
        for outside in [
            "/etc/passwd.php",
            "../update.php",
            "maintenance/../LocalSettings.php",
            "maintenance/./update.php",
            "includes/WebStart.php",
            "extensions/Cite.php",
            "~root/x.php",
            "skins/Vector/x.php",
        ] {
            assert_eq!(code(ScriptName::parse(outside)), "script_outside_codebase", "{outside}");
        }
        for invalid in
            ["", "update.sh", "update", ".php", "up date.php", "maintenance//update.php", "a;b.php", "x\0.php"]
        {
            assert_eq!(code(ScriptName::parse(invalid)), "script_invalid", "{invalid:?}");
        }
        assert_eq!(code(ScriptName::parse(&"a".repeat(300))), "script_invalid");
    }

    #[test]
    fn arguments_are_anything_but_nul_within_bounds() {
        let literal: Vec<String> =
            ["; rm -rf /", "$(id)", "`id`", "a|b", "x && y", "'\"", "--dry-run", "--maxjobs=5", "über"]
                .map(str::to_owned)
                .to_vec();
        check_args(&literal).expect("shell metacharacters are plain text to an argv");
        assert_eq!(code(check_args(&["a\0b".to_owned()])), "argument_invalid");
        assert_eq!(code(check_args(&vec!["x".to_owned(); MAX_ARGS + 1])), "argument_invalid");
        assert_eq!(code(check_args(&["x".repeat(MAX_ARG_BYTES + 1)])), "argument_invalid");
        assert_eq!(code(check_args(&vec!["x".repeat(4000); 3])), "argument_invalid");
        for reserved in ["--wiki", "--wiki=other", "--conf=/tmp/LocalSettings.php"] {
            assert_eq!(code(check_args(&[reserved.to_owned()])), "argument_reserved", "{reserved}");
        }
    }

    #[test]
    fn a_selection_says_which_wikis_once() {
        let all = Selection::parse(&SelectionInput { all: true, ..Default::default() }).expect("all");
        assert_eq!(all, Selection::default());
        let some = Selection::parse(&SelectionInput {
            wikis: Some(vec!["one".into(), "two".into(), "one".into()]),
            backend: Some("mariadb".into()),
            state: Some("locked".into()),
            extension: Some("Cite".into()),
            server: Some("db-1".into()),
            ..Default::default()
        })
        .expect("criteria");
        assert_eq!(some.wikis.as_ref().map(Vec::len), Some(2), "names once each");
        assert_eq!((some.backend, some.state), (Some(Backend::Mariadb), Some(WikiState::Locked)));
        assert_eq!(code(Selection::parse(&SelectionInput::default())), "selection_missing");
        for bad in [
            SelectionInput { all: true, backend: Some("sqlite".into()), ..Default::default() },
            SelectionInput { wikis: Some(vec![]), ..Default::default() },
            SelectionInput { wikis: Some(vec!["Not A Name".into()]), ..Default::default() },
            SelectionInput { backend: Some("postgres".into()), ..Default::default() },
            SelectionInput { state: Some("trashed".into()), ..Default::default() },
            SelectionInput { server: Some("a b".into()), ..Default::default() },
            SelectionInput { extension: Some("../x".into()), ..Default::default() },
        ] {
            assert_eq!(code(Selection::parse(&bad)), "selection_invalid", "{bad:?}");
        }
    }

    #[test]
    fn states_read_back_as_written() {
        for state in RunState::ALL {
            assert_eq!(RunState::parse(state.as_str()), Some(state));
        }
        for state in RunWikiState::ALL {
            assert_eq!(RunWikiState::parse(state.as_str()), Some(state));
        }
        assert!(RunWikiState::TimedOut.is_failure() && !RunWikiState::Skipped.is_failure());
        assert!(!RunWikiState::Running.is_finished() && RunWikiState::Cancelled.is_finished());
    }
}
