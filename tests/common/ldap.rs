//! A private OpenLDAP server for the tests: Debian's `slapd` in a temporary folder, on free
//! loopback ports (ldap:// with StartTLS, and ldaps://), with a certificate from a test CA made
//! by `openssl`, and the directory of `tests/ldap/directory.ldif` loaded with `slapadd`.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const INSTALL_HINT: &str = "run deploy/install-deps.sh --test (it installs slapd and ldap-utils)";

pub const BASE: &str = "dc=example,dc=org";
pub const BIND_DN: &str = "cn=farmd,dc=example,dc=org";
pub const BIND_PASSWORD: &str = "farmd-search-secret";

pub struct Slapd {
    child: Child,
    dir: tempfile::TempDir,
    /// `ldap://127.0.0.1:PORT` (plain, StartTLS offered).
    pub ldap_url: String,
    /// `ldaps://127.0.0.1:PORT`.
    pub ldaps_url: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn run(cmd: &mut Command) {
    let output = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}: {INSTALL_HINT}"));
    assert!(output.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&output.stderr));
}

impl Slapd {
    pub fn start() -> Self {
        for binary in ["/usr/sbin/slapd", "/usr/sbin/slapadd"] {
            assert!(Path::new(binary).is_file(), "{binary} is missing: {INSTALL_HINT}");
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::create_dir(d.join("db")).expect("db dir");
        make_certificates(d);
        let conf = format!(
            "include /etc/ldap/schema/core.schema\n\
             include /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\n\
             modulepath /usr/lib/ldap\nmoduleload back_mdb\n\
             pidfile {d}/slapd.pid\n\
             TLSCACertificateFile {d}/ca.pem\nTLSCertificateFile {d}/server.pem\nTLSCertificateKeyFile {d}/server.key\n\
             database mdb\nmaxsize 10485760\nsuffix \"{BASE}\"\n\
             rootdn \"cn=admin,{BASE}\"\nrootpw admin-secret-not-used\ndirectory {d}/db\n\
             access to attrs=userPassword by self write by anonymous auth by * none\n\
             access to * by users read by * none\n",
            d = d.display()
        );
        std::fs::write(d.join("slapd.conf"), conf).expect("slapd.conf");
        let ldif = super::browser::workspace_root().join("tests/ldap/directory.ldif");
        run(Command::new("/usr/sbin/slapadd").arg("-f").arg(d.join("slapd.conf")).arg("-l").arg(&ldif));
        let (plain, tls) = (free_port(), free_port());
        let ldap_url = format!("ldap://127.0.0.1:{plain}");
        let ldaps_url = format!("ldaps://127.0.0.1:{tls}");
        let log = std::fs::File::create(d.join("slapd.log")).expect("log");
        let child = Command::new("/usr/sbin/slapd")
            .arg("-f")
            .arg(d.join("slapd.conf"))
            .arg("-h")
            .arg(format!("{ldap_url}/ {ldaps_url}/"))
            .args(["-d", "0"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("slapd: {e}: {INSTALL_HINT}"));
        let mut slapd = Self { child, dir, ldap_url, ldaps_url };
        slapd.wait_listening([plain, tls]);
        slapd
    }

    fn wait_listening(&mut self, ports: [u16; 2]) {
        let deadline = Instant::now() + Duration::from_secs(30);
        for port in ports {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
                if let Ok(Some(status)) = self.child.try_wait() {
                    panic!("slapd exited with {status}: {}", self.log());
                }
                assert!(Instant::now() < deadline, "slapd does not listen on {port}: {}", self.log());
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("slapd.log")).unwrap_or_default()
    }

    /// The test CA's certificate (PEM), for `ca_file`.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A file holding the farm's bind password, for `bind_password_file`.
    pub fn bind_password_file(&self) -> PathBuf {
        let path = self.dir.path().join("bind.secret");
        std::fs::write(&path, format!("{BIND_PASSWORD}\n")).expect("secret file");
        path
    }

    /// `[[login.ldap]]` for this directory at `url`, with `extra` lines.
    pub fn config(&self, id: &str, url: &str, extra: &str) -> String {
        format!(
            "[[login.ldap]]\nid = \"{id}\"\nname = \"Directory {id}\"\nurl = \"{url}\"\n\
             bind_dn = \"{BIND_DN}\"\nbind_password_file = \"{}\"\nbase = \"ou=people,{BASE}\"\n{extra}\n",
            self.bind_password_file().display()
        )
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CA and a server certificate for 127.0.0.1 and localhost, signed by it.
fn make_certificates(d: &Path) {
    let openssl = |args: &[&str]| run(Command::new("openssl").args(args).current_dir(d));
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=farmd-test-ca",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        d.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext.cnf");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
}
