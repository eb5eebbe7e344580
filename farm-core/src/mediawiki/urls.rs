//! How wikis and the portal are addressed from outside.

use std::net::SocketAddr;

use crate::config::Config;

/// How wikis are addressed from outside: `{scheme}://{name}.{base_domain}{:port}`.
#[derive(Debug, Clone)]
pub struct WikiUrls {
    pub(super) scheme: String,
    pub(super) base_domain: String,
    pub(super) port_suffix: String,
}

impl WikiUrls {
    /// `listen` is the address farmd actually bound (its port stands in for `public_port`).
    pub fn new(config: &Config, listen: SocketAddr) -> Self {
        let port = config.public_port.unwrap_or(listen.port());
        let default_port = if config.public_scheme == "https" { 443 } else { 80 };
        let port_suffix = if port == default_port { String::new() } else { format!(":{port}") };
        Self { scheme: config.public_scheme.clone(), base_domain: config.base_domain.clone(), port_suffix }
    }

    pub fn wiki_url(&self, name: &str) -> String {
        format!("{}://{}.{}{}/", self.scheme, name, self.base_domain, self.port_suffix)
    }

    /// The wiki name a request's Host header addresses, if it addresses one at all.
    pub fn wiki_label_of_host<'a>(&self, host: &'a str) -> Option<&'a str> {
        let host =
            host.rsplit_once(':').filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit())).map_or(host, |(h, _)| h);
        let label = host.strip_suffix(self.base_domain.as_str())?.strip_suffix('.')?;
        (!label.is_empty() && !label.contains('.')).then_some(label)
    }

    pub fn base_domain(&self) -> &str {
        &self.base_domain
    }

    /// The portal's own address (the base domain itself), without a trailing slash.
    pub fn portal_url(&self) -> String {
        format!("{}://{}{}", self.scheme, self.base_domain, self.port_suffix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_map_to_wiki_labels() {
        let config = Config { public_port: Some(8080), ..Config::default() };
        let urls = WikiUrls::new(&config, "127.0.0.1:9999".parse().expect("addr"));
        assert_eq!(urls.wiki_url("demo"), "http://demo.localhost:8080/");
        assert_eq!(urls.wiki_label_of_host("demo.localhost:8080"), Some("demo"));
        assert_eq!(urls.wiki_label_of_host("demo.localhost"), Some("demo"));
        assert_eq!(urls.wiki_label_of_host("localhost:8080"), None);
        assert_eq!(urls.wiki_label_of_host("a.b.localhost"), None);
        assert_eq!(urls.wiki_label_of_host("demolocalhost"), None);
        assert_eq!(urls.wiki_label_of_host("127.0.0.1:8080"), None);
    }

    #[test]
    fn default_ports_are_left_out_of_urls() {
        let config = Config { public_scheme: "https".into(), public_port: Some(443), ..Config::default() };
        let urls = WikiUrls::new(&config, "127.0.0.1:8080".parse().expect("addr"));
        assert_eq!(urls.wiki_url("demo"), "https://demo.localhost/");
    }
}
