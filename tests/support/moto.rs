//! A throw-away moto server (AWS API emulator) for acceptance tests, plus fixture helpers that
//! drive it with boto3 from the tools venv.
//!
//! `Moto::start()` runs `.tools/venv/bin/moto_server` on 127.0.0.1 with a free port, waits until
//! it accepts connections and kills it on drop. Fixtures are created through moto's own API
//! (boto3 with `endpoint_url`), exactly as a real client would. Moto's default account is
//! [`ACCOUNT_ID`]; any access key is accepted.

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

use super::{Output, Workspace, venv_bin};

/// The account moto puts resources in unless credentials from another account are used.
pub const ACCOUNT_ID: &str = "123456789012";
/// The region fixtures are created in.
pub const REGION: &str = "us-east-1";

/// Fake credentials for Terraform runs against moto.
pub const FAKE_CREDS: &[(&str, &str)] = &[
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
    ("AWS_SESSION_TOKEN", "testing"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
];

pub struct Moto {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

/// A minimal HTTP GET, enough to see that moto's WSGI app answers (not just the socket).
fn http_ok(port: u16, path: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut buf = [0u8; 12];
    s.read_exact(&mut buf).is_ok() && buf.starts_with(b"HTTP/1.") && buf[9] == b'2'
}

impl Moto {
    /// Starts moto_server; panics with install instructions if it is missing.
    pub fn start() -> Moto {
        let bin = venv_bin("moto_server");
        if !bin.is_file() {
            panic!(
                "moto_server not found at {}.\nInstall the test tools by running, from the \
                 repository root:\n\n    scripts/install-tools.sh\n",
                bin.display()
            );
        }
        // A probed port can be taken before moto binds it: try a few times.
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start(&bin) {
                Ok(m) => return m,
                Err(log) => last = log,
            }
        }
        panic!("moto_server did not start:\n{last}");
    }

    fn try_start(bin: &Path) -> Result<Moto, String> {
        let dir = tempfile::Builder::new()
            .prefix("rdsiam-moto-")
            .tempdir()
            .expect("temp dir for moto");
        let log = dir.path().join("moto.log");
        let port = free_port();
        let log_file = fs::File::create(&log).expect("create moto log");
        let err_file = log_file.try_clone().expect("clone log handle");
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(err_file)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        // From here on Drop kills and reaps the child on every path.
        let mut moto = Moto {
            child,
            port,
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = moto.child.try_wait() {
                return Err(format!("exited with {status}\n{}", moto.log_text()));
            }
            if http_ok(port, "/moto-api/") {
                return Ok(moto);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("no answer within 60s\n{}", moto.log_text()))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`, for `endpoints { rds = … sts = … }`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What moto logged so far (request lines and tracebacks).
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The provider block that points rdsiam at this moto (region us-east-1), with `extra`
    /// inserted inside the `aws` block.
    pub fn provider_block(&self, extra: &str) -> String {
        format!(
            "provider \"rdsiam\" {{\n  aws {{\n    region = \"{REGION}\"\n    endpoints {{\n      \
             rds = \"{ep}\"\n      sts = \"{ep}\"\n    }}\n{extra}\n  }}\n}}\n",
            ep = self.endpoint()
        )
    }

    /// Runs `script` with the venv's python; `client(service)` and `ARGS` (the JSON `args`) are
    /// predefined. The script prints its result as JSON on the last line of stdout.
    pub fn boto3(&self, script: &str, args: &Json) -> Json {
        let prelude = format!(
            "import boto3, json, sys\n\
             ARGS = json.loads(sys.argv[1])\n\
             def client(service, **kw):\n    \
                 opts = dict(endpoint_url='{ep}', region_name='{REGION}', \
                 aws_access_key_id='testing', aws_secret_access_key='testing')\n    \
                 opts.update(kw)\n    \
                 return boto3.client(service, **opts)\n",
            ep = self.endpoint()
        );
        let py = venv_bin("python");
        let out = Command::new(&py)
            .arg("-c")
            .arg(format!("{prelude}{script}"))
            .arg(args.to_string())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", py.display()));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            panic!(
                "boto3 fixture failed ({})\n--- script ---\n{script}\n--- stderr ---\n{stderr}\n\
                 --- moto log ---\n{}",
                out.status,
                self.log_text()
            );
        }
        let last = stdout.lines().last().unwrap_or("null");
        serde_json::from_str(last)
            .unwrap_or_else(|e| panic!("fixture output is not JSON ({e}): {stdout}"))
    }

    /// An Aurora PostgreSQL cluster whose master password RDS manages (in Secrets Manager);
    /// returns DescribeDBClusters' `DBCluster`.
    pub fn create_aurora_cluster(&self, id: &str, iam: bool) -> Json {
        self.boto3(
            "rds = client('rds')\n\
             c = rds.create_db_cluster(DBClusterIdentifier=ARGS['id'], Engine='aurora-postgresql', \
             EngineVersion='16.4', MasterUsername='postgres', ManageMasterUserPassword=True, \
             EnableIAMDatabaseAuthentication=ARGS['iam'])['DBCluster']\n\
             print(json.dumps(c, default=str))",
            &serde_json::json!({"id": id, "iam": iam}),
        )
    }

    /// An Aurora PostgreSQL cluster created in another account, through credentials from
    /// `sts:AssumeRole` into `role_arn` (moto keeps one backend per account).
    pub fn create_aurora_cluster_as(&self, role_arn: &str, id: &str) -> Json {
        self.boto3(
            "sts = client('sts')\n\
             cr = sts.assume_role(RoleArn=ARGS['role'], RoleSessionName='fixture')['Credentials']\n\
             rds = client('rds', aws_access_key_id=cr['AccessKeyId'], \
             aws_secret_access_key=cr['SecretAccessKey'], aws_session_token=cr['SessionToken'])\n\
             c = rds.create_db_cluster(DBClusterIdentifier=ARGS['id'], Engine='aurora-postgresql', \
             MasterUsername='postgres', MasterUserPassword='password123', \
             EnableIAMDatabaseAuthentication=True)['DBCluster']\n\
             print(json.dumps(c, default=str))",
            &serde_json::json!({"role": role_arn, "id": id}),
        )
    }

    /// A standalone RDS for PostgreSQL instance; returns DescribeDBInstances' `DBInstance`.
    pub fn create_postgres_instance(&self, id: &str, iam: bool) -> Json {
        self.boto3(
            "rds = client('rds')\n\
             i = rds.create_db_instance(DBInstanceIdentifier=ARGS['id'], Engine='postgres', \
             EngineVersion='16.4', DBInstanceClass='db.t3.micro', MasterUsername='postgres', \
             MasterUserPassword='password123', AllocatedStorage=20, \
             EnableIAMDatabaseAuthentication=ARGS['iam'])['DBInstance']\n\
             print(json.dumps(i, default=str))",
            &serde_json::json!({"id": id, "iam": iam}),
        )
    }

    /// A PostgreSQL RDS Proxy (with a VPC and two subnets, which the API requires) whose auth
    /// entry has `IAMAuth` = `iam_auth` (`REQUIRED` or `DISABLED`); returns `DBProxy`.
    pub fn create_proxy(&self, name: &str, iam_auth: &str) -> Json {
        self.boto3(
            "ec2 = client('ec2')\n\
             vpc = ec2.create_vpc(CidrBlock='10.0.0.0/16')['Vpc']['VpcId']\n\
             subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f'10.0.{i}.0/24', \
             AvailabilityZone=az)['Subnet']['SubnetId'] for i, az in \
             enumerate(['us-east-1a', 'us-east-1b'])]\n\
             p = client('rds').create_db_proxy(DBProxyName=ARGS['name'], EngineFamily='POSTGRESQL', \
             Auth=[{'AuthScheme': 'SECRETS', 'IAMAuth': ARGS['iam'], \
             'SecretArn': 'arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf'}], \
             RoleArn='arn:aws:iam::123456789012:role/rds-proxy', VpcSubnetIds=subnets)['DBProxy']\n\
             print(json.dumps(p, default=str))",
            &serde_json::json!({"name": name, "iam": iam_auth}),
        )
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs Terraform in `ws` with the AWS environment scrubbed: every inherited `AWS_*` and `TF_*`
/// variable removed, `HOME` pointing at `home` (an empty directory: no `~/.aws`), IMDS
/// disabled, then `extra` applied. `args` get `-no-color` / `-auto-approve` like
/// [`Workspace::tf`].
pub fn tf_without_aws(
    ws: &Workspace,
    home: &Path,
    args: &[&str],
    extra: &[(&str, &str)],
) -> Output {
    let full = Workspace::tf_args(args);
    let mut cmd = Command::new(super::terraform(ws.tf_version()));
    cmd.args(&full).current_dir(ws.path()).stdin(Stdio::null());
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("AWS_") || k.starts_with("TF_") {
            cmd.env_remove(&key);
        }
    }
    cmd.env("HOME", home)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("TF_CLI_CONFIG_FILE", ws.cli_config())
        .env("TF_IN_AUTOMATION", "1")
        .env("TF_INPUT", "0")
        .env("CHECKPOINT_DISABLE", "1");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run terraform");
    Output {
        args: full,
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
