//! A wiki's database: SQLite files in the wiki's directory, or a database on one of the
//! farm's MariaDB servers.

pub mod mariadb;
pub mod sqlite;
