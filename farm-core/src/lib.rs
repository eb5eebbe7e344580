//! The domain core of farmd.
//!
//! Everything that decides what a wiki farm *is* lives here, in layers that only look down:
//!
//! - [`domain`]: parsed values and the rules of who may do what ([`domain::permissions`]);
//! - [`platform`]: files, the data directory, randomness and secrets, rate limits, time;
//! - [`config`]: the configuration;
//! - [`store`]: the control store (the registry), rows decoded into typed records;
//! - [`identity`]: tokens and password hashing;
//! - [`mediawiki`]: the shared codebase, PHP, the farm's PHP files and each wiki's shard;
//! - [`backends`]: a wiki's database, SQLite or MariaDB, behind one seam;
//! - [`mail`]: mail templates and the SMTP transport;
//! - [`jobs`]: the background work (provisioning, the warm pool, sandbox expiry, the outbox);
//! - [`app`]: the facade, [`Farm`], through which the API, the portal and the CLI act.
//!
//! The HTTP layer (`farm-api`, `farm-web`) adapts HTTP to [`Farm`] calls; no rule lives there.

pub mod app;
pub mod backends;
pub mod config;
pub mod domain;
pub mod error;
pub mod identity;
pub mod jobs;
pub mod mail;
pub mod mediawiki;
pub mod platform;
pub mod store;

pub use app::Farm;
pub use config::Config;
pub use error::FarmError;
