"""A real S3-compatible server for segql's tests: moto's, in server mode.

Usage: python s3_server.py SPEC, SPEC being JSON {"BUCKET": {"KEY": "LOCAL FILE", ...}, ...}.
Serves on a free port of 127.0.0.1, makes each bucket and uploads the files with boto3 (through
the server's HTTP API, as any client would), prints the endpoint (`http://127.0.0.1:PORT`) on
one line, and serves until its standard input closes (when the test process ends, however
it ends).
"""

import json
import logging
import sys

import boto3
from moto.server import ThreadedMotoServer

# moto accepts any credentials; the tests give segql these.
ACCESS_KEY = "segql-test"
SECRET_KEY = "segql-test-secret"
REGION = "us-east-1"


def main() -> None:
    spec = json.loads(sys.argv[1])
    # Requests are not logged (the tests' output stays readable).
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
    )
    for bucket, files in spec.items():
        s3.create_bucket(Bucket=bucket)
        for key, path in files.items():
            s3.upload_file(path, bucket, key)
    print(endpoint, flush=True)
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
