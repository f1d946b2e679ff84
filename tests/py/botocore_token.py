"""Reference RDS IAM auth tokens from real botocore, for tests/token_botocore.rs and benches/token.rs.

Reads one JSON object on stdin and writes JSON lines on stdout.

  {"mode": "tokens", "epoch": 1795372200, "cases": [case, ...]}
      -> one line per case, in order: {"token": "..."} or {"error": "..."}
  {"mode": "bench", "iterations": 2000, "case": case}
      -> one line: {"iterations": N, "mean_us": .., "p50_us": .., "p99_us": .., "token": ".."}

A case is {"hostname", "port", "username", "region", "access_key", "secret_key",
"session_token" (null for none), "expires_in" (optional, default 900)}.

The clock is frozen at `epoch` by patching `botocore.auth.get_current_datetime`, the one
function SigV4Auth.add_auth reads the time from. With expires_in == 900 the token comes from
`RDS.Client.generate_db_auth_token` itself; other values (which that method cannot take) use
the same steps with the request signer's `expires_in`.
"""

import datetime
import json
import sys
import time

import botocore.auth
import botocore.session
from botocore.awsrequest import prepare_request_dict


def freeze_clock(epoch):
    frozen = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).replace(tzinfo=None)

    def get_current_datetime(remove_tzinfo=True):
        return frozen if remove_tzinfo else frozen.replace(tzinfo=datetime.timezone.utc)

    botocore.auth.get_current_datetime = get_current_datetime


_session = botocore.session.get_session()
_clients = {}


def client_for(case):
    key = (case["access_key"], case["secret_key"], case.get("session_token"))
    client = _clients.get(key)
    if client is None:
        client = _session.create_client(
            "rds",
            region_name="us-east-1",  # every call passes Region explicitly
            aws_access_key_id=case["access_key"],
            aws_secret_access_key=case["secret_key"],
            aws_session_token=case.get("session_token"),
        )
        _clients[key] = client
    return client


def token_for(case):
    client = client_for(case)
    expires_in = case.get("expires_in", 900)
    if expires_in == 900:
        return client.generate_db_auth_token(
            DBHostname=case["hostname"],
            Port=case["port"],
            DBUsername=case["username"],
            Region=case["region"],
        )
    # botocore/signers.py generate_db_auth_token, with expires_in as a parameter.
    request_dict = {
        "url_path": "/",
        "query_string": "",
        "headers": {},
        "body": {"Action": "connect", "DBUser": case["username"]},
        "method": "GET",
    }
    scheme = "https://"
    prepare_request_dict(request_dict, f"{scheme}{case['hostname']}:{case['port']}")
    url = client._request_signer.generate_presigned_url(
        operation_name="connect",
        request_dict=request_dict,
        region_name=case["region"],
        expires_in=expires_in,
        signing_name="rds-db",
    )
    return url[len(scheme):]


def run_tokens(req):
    freeze_clock(req["epoch"])
    for case in req["cases"]:
        try:
            out = {"token": token_for(case)}
        except Exception as e:  # reported per case; the Rust side decides
            out = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(out), flush=True)


def run_bench(req):
    case = req["case"]
    n = int(req["iterations"])
    token_for(case)  # warm up: client creation, endpoint resolution
    samples = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        token = token_for(case)
        samples.append(time.perf_counter_ns() - t0)
    samples.sort()
    mean = sum(samples) / n / 1000.0
    p50 = samples[n // 2] / 1000.0
    p99 = samples[min(n - 1, (n * 99) // 100)] / 1000.0
    print(json.dumps({"iterations": n, "mean_us": mean, "p50_us": p50, "p99_us": p99, "token": token}))


def main():
    req = json.load(sys.stdin)
    mode = req.get("mode", "tokens")
    if mode == "tokens":
        run_tokens(req)
    elif mode == "bench":
        run_bench(req)
    else:
        sys.exit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
