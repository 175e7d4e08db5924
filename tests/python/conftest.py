"""Fixtures: a real `kura server` on an ephemeral loopback port, and boto3 / aws CLI clients for it."""

import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid

import boto3
import pytest
from botocore.config import Config

ACCESS_KEY = "kurapytestadmin"
SECRET_KEY = "kurapytestsecret-0123456789"


class Kura:
    """A running server process."""

    def __init__(self, data_dir, config=None):
        binary = os.environ.get("KURA_BIN", "target/debug/kura")
        env = dict(os.environ, KURA_ROOT_ACCESS_KEY=ACCESS_KEY, KURA_ROOT_SECRET_KEY=SECRET_KEY, KURA_LOG="warn,s3s=off")
        args = [binary, "server", "--address", "127.0.0.1:0", "--data", data_dir]
        if config is not None:
            path = os.path.join(os.path.dirname(data_dir), "kura.yaml")
            with open(path, "w") as f:
                f.write(config)
            args += ["--config", path]
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        for line in self.proc.stdout:
            if line.startswith("kura: listening on "):
                self.endpoint = line.split("listening on ", 1)[1].strip()
                break
        else:
            raise RuntimeError("kura server exited before listening")

    def stop(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture(scope="session")
def kura():
    with tempfile.TemporaryDirectory() as tmp:
        server = Kura(os.path.join(tmp, "data"))
        yield server
        server.stop()


def client(kura, access_key=ACCESS_KEY, secret_key=SECRET_KEY, **config):
    return boto3.client(
        "s3",
        endpoint_url=kura.endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, **config),
    )


@pytest.fixture
def s3(kura):
    return client(kura, signature_version="s3v4")


@pytest.fixture
def bucket(s3):
    name = f"py-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def aws_cli(kura, tmp_path, access_key=ACCESS_KEY, secret_key=SECRET_KEY):
    """Runs the aws CLI against kura as the given user; returns a function taking CLI arguments."""
    env = dict(
        os.environ,
        AWS_ACCESS_KEY_ID=access_key,
        AWS_SECRET_ACCESS_KEY=secret_key,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(tmp_path / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "aws-credentials"),
    )

    def run(*args, check=True):
        return subprocess.run(
            ["aws", "--endpoint-url", kura.endpoint, *args], env=env, capture_output=True, text=True, check=check
        )

    return run


@pytest.fixture
def aws(kura, tmp_path):
    """Runs the aws CLI against kura as root."""
    return aws_cli(kura, tmp_path)


CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@contextlib.contextmanager
def headless_chromium(*flags, browser_log=False):
    """Debian's headless Chromium driven through Debian's chromedriver (from scripts/system-deps), on a fresh
    profile, with the flags that keep it off the network it may not reach; `flags` are added, and
    `browser_log` keeps the page's console messages. The driver is named here: Selenium Manager never runs,
    nothing is downloaded."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for path in (CHROMIUM, CHROMEDRIVER):
        assert os.access(path, os.X_OK), f"{path} is missing: run scripts/system-deps (Debian chromium, chromium-driver)"
    profile = tempfile.mkdtemp(prefix="kura-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        *flags,
    ):
        options.add_argument(flag)
    if browser_log:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
