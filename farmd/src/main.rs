//! farmd: a control plane for MediaWiki wiki farms.

mod backups;
mod bulk;
mod maintenance;
mod remote;
mod server;
mod wikis;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use farm_core::app::local;
use farm_core::config::LogFormat;
use farm_core::domain::Role;
use farm_core::platform::layout::Layout;
use farm_core::Config;
use tracing::info;

#[derive(Parser)]
#[command(version, about = "A control plane for MediaWiki wiki farms", long_about = None)]
struct Cli {
    /// TOML configuration file (values in FARM_* environment variables win over it).
    #[arg(long, short, global = true, env = "FARM_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the farm: API, portal, provisioning pipeline and the wikis themselves.
    Serve,
    /// Print an API token for an account of this farm (revocable like any other).
    Token {
        /// The account the token speaks for (it owns the wikis the token creates).
        #[arg(long)]
        username: String,
        /// How long the token is valid, e.g. 30m, 12h, 30d.
        #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
        ttl: Duration,
    },
    /// Manage accounts from the command line (the first admin, service accounts).
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// Apply the control store's migrations and exit.
    Migrate,
    /// Work with wikis through the API of a running farm.
    Wiki {
        #[command(subcommand)]
        command: WikiCommand,
    },
    /// Back a wiki up now through the API of a running farm; waits until it is verified.
    Backup {
        /// The wiki's name.
        wiki: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Restore a wiki to one of its backups through the API of a running farm; waits until
    /// it is done. The wiki is read-only meanwhile.
    Restore {
        /// The wiki's name.
        wiki: String,
        /// The backup's id (`GET /api/v1/wikis/WIKI/backups` lists them).
        backup: i64,
        #[command(flatten)]
        remote: Remote,
    },
    /// Answer a wiki's transfer offered to you (or cancel one you offered).
    Transfer {
        #[command(subcommand)]
        command: TransferCommand,
    },
    /// List the starters a new wiki can begin with.
    Starters {
        /// The language to describe them in.
        #[arg(long)]
        language: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Run MediaWiki maintenance scripts over the farm's wikis through the API of a running
    /// farm (admins).
    Maintenance {
        #[command(subcommand)]
        command: MaintenanceCommand,
    },
    /// Tools for the control store itself.
    Registry {
        #[command(subcommand)]
        command: RegistryCommand,
    },
}

#[derive(Subcommand)]
enum MaintenanceCommand {
    /// Run SCRIPT over the selected wikis, each as itself (`--wiki NAME`), with progress;
    /// arguments for the script follow `--`. Exit status 2 if a wiki's script failed.
    ///
    /// SCRIPT is one of the codebase: `update.php` (from MediaWiki's maintenance/),
    /// `maintenance/storage/compressOld.php`, or an extension's
    /// `extensions/NAME/maintenance/x.php`.
    Run {
        script: String,
        /// Every served wiki.
        #[arg(long, conflicts_with_all = ["wiki", "backend", "server", "state", "extension"])]
        all: bool,
        /// This wiki (repeat for more).
        #[arg(long)]
        wiki: Vec<String>,
        /// Wikis on this backend: sqlite or mariadb.
        #[arg(long)]
        backend: Option<String>,
        /// Wikis on this database server.
        #[arg(long)]
        server: Option<String>,
        /// Wikis in this state: active or locked.
        #[arg(long)]
        state: Option<String>,
        /// Wikis that have this extension enabled.
        #[arg(long)]
        extension: Option<String>,
        /// Scripts at the same time (default: the farm's [maintenance] parallel, its cores).
        #[arg(long)]
        parallel: Option<u32>,
        /// How long the script may run for one wiki, e.g. 90s, 10m (default: [maintenance] timeout).
        #[arg(long, value_parser = humantime::parse_duration)]
        timeout: Option<Duration>,
        /// Run a wiki whose script failed again, up to this many times.
        #[arg(long)]
        retries: Option<u32>,
        /// update.php: also the wikis whose schema is current.
        #[arg(long)]
        force: bool,
        /// Print the run's id and return at once (follow it with `farmd maintenance status`).
        #[arg(long)]
        no_wait: bool,
        /// The script's arguments, after `--`: passed as they are, never through a shell.
        #[arg(last = true, allow_hyphen_values = true)]
        args: Vec<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// A run's progress and each wiki's report.
    Status {
        id: i64,
        #[command(flatten)]
        remote: Remote,
    },
    /// Cancel a run: wikis not yet run stay undone, scripts under way are killed.
    Cancel {
        id: i64,
        #[command(flatten)]
        remote: Remote,
    },
    /// The latest runs.
    List {
        #[command(flatten)]
        remote: Remote,
    },
    /// Upgrade the wikis to a codebase (default: the current one), one wiki at a time
    /// read-only, with progress; `[upgrades] canary` wikis first. Exit status 2 if a wiki's
    /// upgrade failed (it stays read-only: fix the cause, then `farmd maintenance retry ID`).
    Upgrade {
        /// A `[[codebases]]` name (default: `[upgrades] codebase`, the current one).
        #[arg(long)]
        codebase: Option<String>,
        /// This wiki only (repeat for more; default: every served wiki).
        #[arg(long)]
        wiki: Vec<String>,
        /// Also the wikis already on it with a current schema.
        #[arg(long)]
        force: bool,
        /// Print the run's id and return at once.
        #[arg(long)]
        no_wait: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Try a finished run's failed wikis again, with progress.
    Retry {
        id: i64,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Subcommand)]
enum TransferCommand {
    /// Take the wiki over.
    Accept {
        /// The transfer's id (`GET /api/v1/transfers` lists yours).
        id: i64,
        #[command(flatten)]
        remote: Remote,
    },
    /// Refuse it.
    Decline {
        id: i64,
        #[command(flatten)]
        remote: Remote,
    },
    /// Withdraw an offer you made.
    Cancel {
        id: i64,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Subcommand)]
enum WikiCommand {
    /// Export a wiki (every revision, logs, files, settings) and download the archive.
    Export {
        wiki: String,
        /// Where the archive goes (default: WIKI-export-ID.tar.gz here).
        #[arg(long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Create a wiki from an archive (a farmd export or a MediaWiki XML dump) and wait until
    /// it is active.
    Import {
        /// The archive.
        file: PathBuf,
        #[arg(long)]
        name: String,
        #[arg(long)]
        sitename: String,
        #[arg(long)]
        language: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Delete a wiki: it waits in the trash for `deleted_retention`, restorable.
    Delete {
        wiki: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Bring a deleted wiki back from the trash.
    Undelete {
        wiki: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Remove a deleted wiki for good now (admins).
    Purge {
        wiki: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Give a wiki a new name; the old address redirects for a while.
    Rename {
        wiki: String,
        /// The new name.
        to: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Name another farm account a manager of the wiki (it may change the wiki's settings).
    AddManager {
        wiki: String,
        username: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Take a manager's rights on the wiki away.
    RemoveManager {
        wiki: String,
        username: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Offer a wiki to another farm account; it moves when they accept.
    Transfer {
        wiki: String,
        /// The recipient's user name.
        #[arg(long)]
        to: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Create many wikis from a CSV file with the header `name,sitename[,language][,starter]`.
    /// Running it again creates nothing twice: wikis you already have are reported as existing.
    Create {
        /// The CSV file.
        #[arg(long)]
        from: PathBuf,
        /// The farm's address (default: http:// and the configured listen address).
        #[arg(long)]
        url: Option<String>,
        /// An API token (see `farmd token`); the new wikis belong to its subject.
        #[arg(long, env = "FARM_TOKEN", hide_env_values = true)]
        token: String,
        /// Where the owners' one-time passwords go (appended, mode 0600).
        #[arg(long, default_value = "wiki-credentials.csv")]
        credentials: PathBuf,
        /// Return once the wikis are submitted, without waiting for them to become active.
        #[arg(long)]
        no_wait: bool,
    },
}

/// How a command reaches a running farm's API.
#[derive(clap::Args)]
struct Remote {
    /// The farm's address (default: the address the farm of this data directory listens on).
    #[arg(long, env = "FARM_URL")]
    url: Option<String>,
    /// An API token of the wiki's owner or an admin (see `farmd token`).
    #[arg(long, env = "FARM_TOKEN", hide_env_values = true)]
    token: String,
}

impl Remote {
    fn url(&self, config: &Config) -> String {
        let url = self.url.clone().unwrap_or_else(|| {
            let bound = Layout::new(&config.data_dir)
                .ok()
                .and_then(|layout| std::fs::read_to_string(layout.listen_file()).ok())
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty());
            format!("http://{}", bound.unwrap_or_else(|| config.listen.to_string()))
        });
        url.trim_end_matches('/').to_owned()
    }
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Create a confirmed account. Its password is read from standard input with
    /// --password-stdin; without it the account logs in only with tokens from `farmd token`.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        /// admin, reviewer or member.
        #[arg(long, default_value = "member")]
        role: Role,
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
enum RegistryCommand {
    /// For benchmarks: register COUNT placeholder wikis (active, with no resources behind
    /// them) to measure the registry at scale. Do not use on a farm people use.
    Seed {
        #[arg(long)]
        count: u64,
        #[arg(long, default_value = "seed")]
        prefix: String,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref())?;
    // Before anything touches the data directory (every subcommand may create files in it).
    if config.web_group.is_some() {
        farm_core::platform::fsutil::share_new_files_with_group();
    } else {
        farm_core::platform::fsutil::keep_new_files_private();
    }
    init_tracing(config.log_format);
    let runtime = tokio::runtime::Runtime::new()?;
    match cli.command {
        Command::Serve => runtime.block_on(server::serve(config)),
        Command::Token { username, ttl } => runtime.block_on(async {
            let keys = local::token_keys(&config.data_dir)?;
            let store = open_store(&config).await?;
            let token = local::issue_token(&store, &keys, &username, ttl)
                .await
                .map_err(|e| anyhow::anyhow!("{username}: {e}"))?;
            store.close().await;
            println!("{token}");
            Ok(())
        }),
        Command::Account { command: AccountCommand::Create { username, email, role, password_stdin } } => runtime
            .block_on(async {
                let password = if password_stdin {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    Some(line.trim_end_matches(['\r', '\n']).to_owned())
                } else {
                    None
                };
                let store = open_store(&config).await?;
                let account = local::create_account(&store, &username, &email, role, password.as_deref())
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                store.close().await;
                info!(account = %account.username, role = account.role.as_str(), "account created");
                Ok(())
            }),
        Command::Wiki { command } => runtime.block_on(wiki_command(&config, command)),
        Command::Transfer { command } => {
            let (id, action, remote) = match &command {
                TransferCommand::Accept { id, remote } => (*id, "accept", remote),
                TransferCommand::Decline { id, remote } => (*id, "decline", remote),
                TransferCommand::Cancel { id, remote } => (*id, "cancel", remote),
            };
            let url = remote.url(&config);
            runtime.block_on(wikis::answer_transfer(remote::Api { url: &url, token: &remote.token }, id, action))
        }
        Command::Starters { language, remote } => {
            let url = remote.url(&config);
            runtime.block_on(wikis::starters(remote::Api { url: &url, token: &remote.token }, language.as_deref()))
        }
        Command::Backup { wiki, remote } => {
            let url = remote.url(&config);
            let api = remote::Api { url: &url, token: &remote.token };
            if !runtime.block_on(backups::backup(api, &wiki))? {
                std::process::exit(2);
            }
            Ok(())
        }
        Command::Restore { wiki, backup, remote } => {
            let url = remote.url(&config);
            let api = remote::Api { url: &url, token: &remote.token };
            if !runtime.block_on(backups::restore(api, &wiki, backup))? {
                std::process::exit(2);
            }
            Ok(())
        }
        Command::Maintenance { command } => {
            if !runtime.block_on(maintenance_command(&config, command))? {
                std::process::exit(2);
            }
            Ok(())
        }
        Command::Registry { command: RegistryCommand::Seed { count, prefix } } => runtime.block_on(async {
            let store = open_store(&config).await?;
            let started = std::time::Instant::now();
            local::seed_placeholder_wikis(&store, &prefix, count)
                .await
                .map_err(|e| anyhow::anyhow!("--prefix: {e}"))?;
            store.close().await;
            info!(count, elapsed_ms = started.elapsed().as_millis() as u64, "placeholder wikis registered");
            Ok(())
        }),
        Command::Migrate => runtime.block_on(async {
            open_store(&config).await?.close().await;
            info!("control store is up to date");
            Ok(())
        }),
    }
}

/// `farmd wiki ...`.
async fn wiki_command(config: &Config, command: WikiCommand) -> anyhow::Result<()> {
    let (wiki, remote, change) = match &command {
        WikiCommand::Create { from, url, token, credentials, no_wait } => {
            // Its own options, from before `--url` defaulted to the running farm's address.
            let api = url.clone().unwrap_or_else(|| format!("http://{}", config.listen));
            let options =
                bulk::Options { file: from, api: api.trim_end_matches('/'), token, credentials, wait: !no_wait };
            if !bulk::create_from_file(options).await? {
                std::process::exit(2);
            }
            return Ok(());
        }
        WikiCommand::Export { wiki, output, remote } => {
            let url = remote.url(config);
            wikis::export(remote::Api { url: &url, token: &remote.token }, wiki, output.as_deref()).await?;
            return Ok(());
        }
        WikiCommand::Import { file, name, sitename, language, remote } => {
            let url = remote.url(config);
            let api = remote::Api { url: &url, token: &remote.token };
            if !wikis::import(api, file, name, sitename, language.as_deref()).await? {
                std::process::exit(2);
            }
            return Ok(());
        }
        WikiCommand::Delete { wiki, remote } => (wiki, remote, wikis::Change::Delete),
        WikiCommand::Undelete { wiki, remote } => (wiki, remote, wikis::Change::Undelete),
        WikiCommand::Purge { wiki, remote } => (wiki, remote, wikis::Change::Purge),
        WikiCommand::Rename { wiki, to, remote } => (wiki, remote, wikis::Change::Rename(to)),
        WikiCommand::Transfer { wiki, to, remote } => (wiki, remote, wikis::Change::Transfer(to)),
        WikiCommand::AddManager { wiki, username, remote } => (wiki, remote, wikis::Change::AddManager(username)),
        WikiCommand::RemoveManager { wiki, username, remote } => (wiki, remote, wikis::Change::RemoveManager(username)),
    };
    let url = remote.url(config);
    wikis::change(remote::Api { url: &url, token: &remote.token }, wiki, change).await
}

/// `farmd maintenance ...`; false when the work failed.
async fn maintenance_command(config: &Config, command: MaintenanceCommand) -> anyhow::Result<bool> {
    match command {
        MaintenanceCommand::Run {
            script,
            all,
            wiki,
            backend,
            server,
            state,
            extension,
            parallel,
            timeout,
            retries,
            force,
            no_wait,
            args,
            remote,
        } => {
            let mut selection = serde_json::Map::new();
            if all {
                selection.insert("all".into(), true.into());
            }
            if !wiki.is_empty() {
                selection.insert("wikis".into(), wiki.into());
            }
            for (key, value) in [("backend", backend), ("server", server), ("state", state), ("extension", extension)] {
                if let Some(value) = value {
                    selection.insert(key.into(), value.into());
                }
            }
            let url = remote.url(config);
            let options = maintenance::RunOptions {
                script: &script,
                args: &args,
                selection: selection.into(),
                parallel,
                timeout,
                retries,
                force,
                wait: !no_wait,
            };
            maintenance::run(remote::Api { url: &url, token: &remote.token }, options).await
        }
        MaintenanceCommand::Status { id, remote } => {
            let url = remote.url(config);
            maintenance::status(remote::Api { url: &url, token: &remote.token }, id).await
        }
        MaintenanceCommand::Cancel { id, remote } => {
            let url = remote.url(config);
            maintenance::cancel(remote::Api { url: &url, token: &remote.token }, id).await.map(|()| true)
        }
        MaintenanceCommand::List { remote } => {
            let url = remote.url(config);
            maintenance::list(remote::Api { url: &url, token: &remote.token }).await.map(|()| true)
        }
        MaintenanceCommand::Upgrade { codebase, wiki, force, no_wait, remote } => {
            let url = remote.url(config);
            let mut body = serde_json::json!({ "force": force });
            if let Some(codebase) = codebase {
                body["codebase"] = codebase.into();
            }
            if !wiki.is_empty() {
                body["wikis"] = wiki.into();
            }
            let api = remote::Api { url: &url, token: &remote.token };
            maintenance::start_and_follow(api, "/api/v1/upgrades", body, !no_wait).await
        }
        MaintenanceCommand::Retry { id, remote } => {
            let url = remote.url(config);
            let api = remote::Api { url: &url, token: &remote.token };
            maintenance::start_and_follow(
                api,
                &format!("/api/v1/maintenance-runs/{id}/retry"),
                serde_json::json!({}),
                true,
            )
            .await
        }
    }
}

/// The control store of `config`'s data directory, migrated.
async fn open_store(config: &Config) -> anyhow::Result<farm_core::store::Store> {
    Layout::new(&config.data_dir)?;
    let store = farm_core::store::Store::connect(&config.control_store_url()).await?;
    store.migrate().await?;
    Ok(store)
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FARM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=info"));
    // Colours only for a person at a terminal, never into a file or a journal.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
