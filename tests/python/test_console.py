"""The web console in a real browser: Debian's headless Chromium, driven by Selenium through Debian's
chromedriver (as test_cors_browser.py), against a real `kura server`. Signs in, creates and deletes a bucket,
uploads a 20 MiB file through the multipart path with its progress bar, browses folders and pages, shares a
link fetched with curl, issues and revokes an upload ticket, edits a policy with a JSON error and sees its line,
asks "why denied", watches audit records arrive; a read-only user sees disabled buttons with the reason, and
the server refuses its writes even when the page sends them directly; requests without the session cookie,
with a forged one, or without the CSRF header are refused. Screenshots of the main screens are written to
target/console-screenshots/ (the README's come from there). Every wait is on a condition, never a sleep."""

import concurrent.futures
import hashlib
import http.client
import json
import os
import subprocess
import tempfile
import urllib.parse
import urllib.request
import uuid

import botocore.exceptions
import pytest
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from conftest import ACCESS_KEY, SECRET_KEY, Kura, client, headless_chromium

SHOTS = os.path.join("target", "console-screenshots")

READER = "reader"
READER_SECRET = "reader-secret-0123456789"

CONFIG = f"""
users:
  - access_key: {READER}
    secret_key: {READER_SECRET}
    policies: [readonly]
identity:
  roles:
    - name: team-a-app
      trust_policy:
        Version: "2012-10-17"
        Statement:
          - Effect: Deny
            Principal: "*"
            Action: "*"
      policies: [readwrite]
  pod_identity:
    associations:
      - {{namespace: team-a, service_account: app, role: team-a-app}}
"""

XSS_KEY = "<img src=x onerror=alert(1)>.txt"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def kura():
    with tempfile.TemporaryDirectory() as tmp:
        # The audit log on: the viewer then shows the sign-ins made before it was opened.
        server = Kura(os.path.join(tmp, "data"), config=CONFIG + f"audit:\n  path: {tmp}/audit.log\n")
        yield server
        server.stop()


@pytest.fixture(scope="module")
def s3(kura):
    return client(kura, signature_version="s3v4")


@pytest.fixture(scope="module")
def browser():
    with headless_chromium("--window-size=1280,820", browser_log=True) as driver:
        yield driver


@pytest.fixture(autouse=True)
def failure_artifacts(request):
    """After a failed test, the page as it was: a screenshot and its text, beside the other screenshots."""
    failed = request.session.testsfailed
    yield
    if request.session.testsfailed > failed and "browser" in request.fixturenames:
        browser = request.getfixturevalue("browser")
        os.makedirs(SHOTS, exist_ok=True)
        base = os.path.join(SHOTS, f"failed-{request.node.name}")
        browser.save_screenshot(base + ".png")
        with open(base + ".txt", "w") as f:
            f.write(browser.current_url + "\n" + browser.execute_script("return document.body.innerText"))


@pytest.fixture(scope="module")
def shared_bucket(s3):
    """A bucket root filled in: browsed, shared and looked at read-only."""
    name = f"console-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="readme.txt", Body=b"hello from kura")
    s3.put_object(Bucket=name, Key="docs/guide.txt", Body=b"a guide")
    s3.put_object(Bucket=name, Key="docs/deep/note.txt", Body=b"a note")
    s3.put_object(Bucket=name, Key=XSS_KEY, Body=b"not markup")
    return name


# ---------------------------------------------------------------------------------------------- helpers


def wait(browser, timeout=30):
    """Waits on a condition; elements redrawn meanwhile (stale) or not drawn yet count as "not yet"."""
    return WebDriverWait(browser, timeout, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException))


def by_id(browser, element_id):
    return browser.find_element(By.ID, element_id)


def shot(browser, name, show=None):
    """Saves a screenshot of the page as target/console-screenshots/NAME.png: the top of the page, or with
    the element `show` in the middle; without the passing notices of earlier steps."""
    os.makedirs(SHOTS, exist_ok=True)
    browser.execute_script(
        "document.activeElement && document.activeElement.blur();"
        "document.getElementById('notices').replaceChildren();"
        "if (arguments[0]) arguments[0].scrollIntoView({block: 'center'}); else window.scrollTo(0, 0)",
        show,
    )
    assert browser.save_screenshot(os.path.join(SHOTS, f"{name}.png"))


def go(browser, hash_):
    """Shows a view (the page is already loaded and signed in)."""
    browser.execute_script("window.location.hash = arguments[0]", hash_)


def sign_out_if_needed(browser, kura):
    if not browser.current_url.startswith(kura.endpoint + "/kura/console/"):
        browser.get(kura.endpoint + "/kura/console/")
    wait(browser).until(lambda b: by_id(b, "sign-in").is_displayed() or by_id(b, "whoami").is_displayed())
    if by_id(browser, "whoami").is_displayed():
        by_id(browser, "sign-out").click()
        wait(browser).until(lambda b: by_id(b, "sign-in").is_displayed())


def sign_in(browser, kura, access_key=ACCESS_KEY, secret_key=SECRET_KEY):
    """Signs in through the form (signing out first if someone else is signed in)."""
    if browser.current_url.startswith(kura.endpoint + "/kura/console/"):
        shown = by_id(browser, "principal").text if by_id(browser, "whoami").is_displayed() else ""
        if shown.endswith(f":user/{access_key}") or (access_key == ACCESS_KEY and shown.endswith(":root")):
            return
    sign_out_if_needed(browser, kura)
    by_id(browser, "access-key").clear()
    by_id(browser, "access-key").send_keys(access_key)
    by_id(browser, "secret-key").send_keys(secret_key)
    by_id(browser, "sign-in-button").click()
    wait(browser).until(lambda b: by_id(b, "whoami").is_displayed())


def confirm(browser, ok=True):
    """Answers the confirmation dialog."""
    wait(browser).until(lambda b: by_id(b, "confirm").is_displayed())
    by_id(browser, "confirm-ok" if ok else "confirm-cancel").click()
    wait(browser).until(lambda b: not by_id(b, "confirm").is_displayed())


def exists(s3, bucket, key):
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] in ("404", "NoSuchKey"), e.response
        return False


def bucket_exists(s3, bucket):
    try:
        s3.head_bucket(Bucket=bucket)
        return True
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] in ("404", "NoSuchBucket"), e.response
        return False


def curl(*args):
    """curl's status code and body."""
    out = subprocess.run(
        ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", *args], capture_output=True, check=True
    ).stdout
    body, _, status = out.rpartition(b"\n")
    return int(status), body


def in_page_fetch(browser, method, path, body=None, headers=None):
    """fetch() from the page with the session's CSRF token: what a script in the page could send."""
    return browser.execute_async_script(
        """
        const [method, path, body, extra, done] = arguments;
        (async () => {
          const session = await (await fetch('/kura/console/api/session')).json();
          const headers = Object.assign({'X-Kura-Csrf': session.csrf}, extra || {});
          const r = await fetch(path, {method, body: body === null ? undefined : body, headers});
          done({status: r.status, body: await r.text()});
        })().catch((e) => done({status: 0, body: String(e)}));
        """,
        method,
        path,
        body,
        headers,
    )


class Plain:
    """Plain HTTP to the console, no browser: a client that keeps (or forges) the cookie itself."""

    def __init__(self, kura):
        parsed = urllib.parse.urlsplit(kura.endpoint)
        self.host, self.port = parsed.hostname, parsed.port
        self.origin = kura.endpoint

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.headers, resp.read()
        finally:
            conn.close()

    def sign_in(self, access_key=ACCESS_KEY, secret_key=SECRET_KEY):
        body = json.dumps({"access_key_id": access_key, "secret_access_key": secret_key})
        status, headers, data = self.request(
            "POST", "/kura/console/api/session", body, {"Content-Type": "application/json"}
        )
        assert status == 200, data
        cookie = headers["Set-Cookie"]
        return cookie.split(";", 1)[0], json.loads(data), cookie


# ------------------------------------------------------------------------------------------------ tests


def test_sign_in_refuses_a_wrong_secret_then_signs_in(browser, kura):
    browser.get(kura.endpoint + "/kura/console")
    assert browser.current_url == kura.endpoint + "/kura/console/"
    sign_out_if_needed(browser, kura)
    shot(browser, "sign-in")
    by_id(browser, "access-key").send_keys(ACCESS_KEY)
    by_id(browser, "secret-key").send_keys("not-the-secret")
    by_id(browser, "sign-in-button").click()
    wait(browser).until(lambda b: "wrong" in by_id(b, "sign-in-error").text)
    assert by_id(browser, "secret-key").get_attribute("value") == "", "the secret does not stay in the form"
    assert not by_id(browser, "whoami").is_displayed()
    by_id(browser, "secret-key").send_keys(SECRET_KEY)
    by_id(browser, "sign-in-button").click()
    wait(browser).until(lambda b: by_id(b, "whoami").is_displayed())
    assert by_id(browser, "principal").text.endswith(":root")
    # A reload keeps the session (the cookie), and the secret is nowhere in the page.
    browser.refresh()
    wait(browser).until(lambda b: by_id(b, "whoami").is_displayed())
    assert SECRET_KEY not in browser.page_source
    assert SECRET_KEY not in json.dumps(browser.execute_script("return Object.assign({}, sessionStorage, localStorage)"))
    # Ended behind the page's back (another tab): the next load finds out and asks to sign in.
    assert in_page_fetch(browser, "DELETE", "/kura/console/api/session")["status"] == 204
    browser.refresh()
    wait(browser).until(lambda b: by_id(b, "sign-in").is_displayed())
    assert "session has ended" in by_id(browser, "sign-in-error").text


def test_create_a_bucket_and_delete_one_after_confirming(browser, kura, s3):
    sign_in(browser, kura)
    name = f"made-in-console-{uuid.uuid4().hex[:8]}"
    go(browser, "#/buckets")
    wait(browser).until(lambda b: b.find_elements(By.ID, "new-bucket"))
    by_id(browser, "new-bucket").send_keys(name)
    by_id(browser, "create-bucket").click()
    wait(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, f"button[data-bucket='{name}']"))
    assert bucket_exists(s3, name)
    shot(browser, "buckets")

    delete = lambda b: b.find_element(By.CSS_SELECTOR, f"button[data-bucket='{name}']")  # noqa: E731
    delete(browser).click()
    confirm(browser, ok=False)
    assert bucket_exists(s3, name), "cancelled: nothing deleted"
    delete(browser).click()
    confirm(browser, ok=True)
    wait(browser).until(lambda b: not b.find_elements(By.CSS_SELECTOR, f"button[data-bucket='{name}']"))
    assert not bucket_exists(s3, name)


def test_upload_20_mib_through_multipart_with_the_progress_bar(browser, kura, s3, shared_bucket, tmp_path):
    sign_in(browser, kura)
    data = os.urandom(20 * MIB)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    go(browser, f"#/b/{shared_bucket}?prefix=uploads%2F")
    wait(browser).until(lambda b: "Nothing here" in by_id(b, "listing-status").text)
    # Record every percentage the bar shows.
    browser.execute_script(
        """
        window.seenPercents = [];
        new MutationObserver((changes) => {
          for (const c of changes) if (c.target.dataset && c.target.dataset.percent) window.seenPercents.push(Number(c.target.dataset.percent));
        }).observe(document.getElementById('uploads'), {subtree: true, attributes: true, attributeFilter: ['data-percent']});
        """
    )
    by_id(browser, "upload-files").send_keys(str(path))
    row = "li.upload[data-key='uploads/big.bin']"
    wait(browser, 120).until(lambda b: b.find_element(By.CSS_SELECTOR, row).get_attribute("data-state") in ("done", "failed"))
    upload = browser.find_element(By.CSS_SELECTOR, row)
    assert upload.get_attribute("data-state") == "done", upload.text
    assert upload.get_attribute("data-percent") == "100"
    assert browser.execute_script("return arguments[0].querySelector('progress').value", upload) == 100
    seen = browser.execute_script("return window.seenPercents")
    assert any(0 < p < 100 for p in seen), f"the bar moved through intermediate values: {seen}"

    head = s3.head_object(Bucket=shared_bucket, Key="uploads/big.bin")
    assert head["ContentLength"] == 20 * MIB
    parts = [hashlib.md5(data[i : i + 8 * MIB]).digest() for i in range(0, len(data), 8 * MIB)]
    assert head["ETag"] == f'"{hashlib.md5(b"".join(parts)).hexdigest()}-{len(parts)}"', "8 MiB parts, multipart"
    assert s3.get_object(Bucket=shared_bucket, Key="uploads/big.bin")["Body"].read() == data
    # The listing shows it once the upload is done.
    wait(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#objects-table tr[data-key='uploads/big.bin']"))
    shot(browser, "upload")


def test_upload_a_folder_keeps_its_tree(browser, kura, s3, shared_bucket, tmp_path):
    sign_in(browser, kura)
    tree = tmp_path / "site"
    (tree / "css").mkdir(parents=True)
    (tree / "index.html").write_bytes(b"<h1>hi</h1>")
    (tree / "css" / "main.css").write_bytes(b"h1 {}")
    go(browser, f"#/b/{shared_bucket}?prefix=folders%2F")
    wait(browser).until(lambda b: "Nothing here" in by_id(b, "listing-status").text)
    by_id(browser, "upload-folder").send_keys(str(tree))
    for key in ("folders/site/index.html", "folders/site/css/main.css"):
        wait(browser).until(lambda b: b.find_element(By.CSS_SELECTOR, f"li.upload[data-key='{key}']").get_attribute("data-state") == "done")
    assert s3.get_object(Bucket=shared_bucket, Key="folders/site/index.html")["Body"].read() == b"<h1>hi</h1>"
    assert s3.get_object(Bucket=shared_bucket, Key="folders/site/css/main.css")["Body"].read() == b"h1 {}"
    wait(browser).until(lambda b: "site/" in [a.text for a in b.find_elements(By.CSS_SELECTOR, "#objects-table a.folder")])
    # A file dropped on the page (a drop event with the file, as the browser makes it) is uploaded here.
    browser.execute_script(
        """
        const data = new DataTransfer();
        data.items.add(new File(['dropped here'], 'dropped.txt', {type: 'text/plain'}));
        const view = document.getElementById('view');
        view.dispatchEvent(new DragEvent('dragover', {dataTransfer: data, bubbles: true, cancelable: true}));
        view.dispatchEvent(new DragEvent('drop', {dataTransfer: data, bubbles: true, cancelable: true}));
        """
    )
    wait(browser).until(lambda b: b.find_element(By.CSS_SELECTOR, "li.upload[data-key='folders/dropped.txt']").get_attribute("data-state") == "done")
    dropped = s3.get_object(Bucket=shared_bucket, Key="folders/dropped.txt")
    assert dropped["Body"].read() == b"dropped here" and dropped["ContentType"] == "text/plain"


def test_an_upload_cut_off_by_the_network_fails_and_resumes_with_the_missing_parts(browser, kura, s3, shared_bucket, tmp_path):
    """The browser goes offline (DevTools network emulation) once the first part is stored: the parts not yet
    sent fail, are retried, and the upload stops as failed, keeping its UploadId and finished parts; back
    online, Resume sends only what is missing and completes."""
    sign_in(browser, kura)
    data = os.urandom(64 * MIB)
    path = tmp_path / "resumed.bin"
    path.write_bytes(data)
    key = "resume/resumed.bin"
    go(browser, f"#/b/{shared_bucket}?prefix=resume%2F")
    wait(browser).until(lambda b: "Nothing here" in by_id(b, "listing-status").text)

    def stored_parts():
        uploads = s3.list_multipart_uploads(Bucket=shared_bucket, Prefix="resume/").get("Uploads", [])
        if not uploads:
            return []
        return s3.list_parts(Bucket=shared_bucket, Key=key, UploadId=uploads[0]["UploadId"]).get("Parts", [])

    online = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
    browser.execute_cdp_cmd("Network.enable", {})
    # 8 MiB/s: slow enough that the network is cut while parts are still to be sent.
    browser.execute_cdp_cmd("Network.emulateNetworkConditions", dict(online, uploadThroughput=8 * MIB))
    row = f"li.upload[data-key='{key}']"
    state = lambda b: b.find_element(By.CSS_SELECTOR, row).get_attribute("data-state")  # noqa: E731
    try:
        by_id(browser, "upload-files").send_keys(str(path))
        wait(browser, 60).until(lambda b: stored_parts())
        browser.execute_cdp_cmd("Network.emulateNetworkConditions", dict(online, offline=True))
        wait(browser, 60).until(lambda b: state(b) == "failed")
        kept = stored_parts()
        assert 1 <= len(kept) < 8, f"some parts were stored, not all: {len(kept)}"
        assert not exists(s3, shared_bucket, key)
        browser.execute_cdp_cmd("Network.emulateNetworkConditions", online)
        browser.find_element(By.CSS_SELECTOR, f"{row} button.resume").click()
        wait(browser, 60).until(lambda b: state(b) in ("done", "failed"))
        assert state(browser) == "done"
    finally:
        browser.execute_cdp_cmd("Network.emulateNetworkConditions", online)
        browser.execute_cdp_cmd("Network.disable", {})
    head = s3.head_object(Bucket=shared_bucket, Key=key)
    assert head["ETag"].endswith('-8"') and head["ContentLength"] == len(data)
    assert s3.get_object(Bucket=shared_bucket, Key=key)["Body"].read() == data
    assert s3.list_multipart_uploads(Bucket=shared_bucket, Prefix="resume/").get("Uploads", []) == []


def test_browse_folders_pages_and_keys_shown_as_text(browser, kura, s3, shared_bucket):
    sign_in(browser, kura)

    def put(i):
        s3.put_object(Bucket=shared_bucket, Key=f"many/key-{i:05d}", Body=b"x")

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(put, range(1005)))

    go(browser, f"#/b/{shared_bucket}")
    wait(browser).until(lambda b: "objects" in by_id(b, "listing-status").text)
    folders = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#objects-table a.folder")]
    assert {"docs/", "many/", "uploads/"} <= set(folders), folders
    # A key that looks like markup is shown as text: no <img> element, no script ran.
    link = browser.find_element(By.CSS_SELECTOR, f"#objects-table tr[data-key='{XSS_KEY}'] a.object")
    assert link.text == XSS_KEY
    assert not browser.find_elements(By.CSS_SELECTOR, "#objects-table img")
    by_id(browser, "clear-uploads").click()
    wait(browser).until(lambda b: not b.find_elements(By.CSS_SELECTOR, "li.upload[data-state='done']"))
    shot(browser, "objects")

    browser.find_element(By.XPATH, "//table[@id='objects-table']//a[text()='docs/']").click()
    wait(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#objects-table tr[data-key='docs/guide.txt']"))
    assert "deep/" in [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#objects-table a.folder")]

    go(browser, f"#/b/{shared_bucket}?prefix=many%2F")
    # The first screenful is drawn at once, the rest after a paint: wait until the table says it is whole.
    wait(browser).until(lambda b: by_id(b, "listing-status").text.startswith("1000 objects"))
    wait(browser).until(lambda b: by_id(b, "objects-table").get_attribute("aria-busy") == "false")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#objects-table tr[data-key]")) == 1000
    by_id(browser, "next-page").click()
    wait(browser).until(lambda b: by_id(b, "listing-status").text.startswith("5 objects"))
    assert by_id(browser, "next-page").get_attribute("disabled") is not None
    keys = [tr.get_attribute("data-key") for tr in browser.find_elements(By.CSS_SELECTOR, "#objects-table tr[data-key]")]
    assert keys == [f"many/key-{i:05d}" for i in range(1000, 1005)]
    by_id(browser, "previous-page").click()
    wait(browser).until(lambda b: by_id(b, "listing-status").text.startswith("1000 objects"))


def test_object_details_tags_and_versions(browser, kura, s3, shared_bucket):
    sign_in(browser, kura)
    s3.put_bucket_versioning(Bucket=shared_bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=shared_bucket, Key="docs/guide.txt", Body=b"a second guide", Metadata={"team": "docs"})
    go(browser, f"#/o/{shared_bucket}?key=docs%2Fguide.txt")
    wait(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#versions-table tbody tr"))
    metadata = by_id(browser, "object-metadata").text
    assert "14 bytes" in metadata and "x-amz-meta-team" in metadata and "docs" in metadata
    assert len(browser.find_elements(By.CSS_SELECTOR, "#versions-table tbody tr")) == 2

    # Download of the older version: the page asks kura for a link to that version, which reads its bytes.
    browser.execute_script(
        "window.__links = []; const f = window.fetch; window.fetch = (u, o) => f(u, o).then((r) => {"
        " if (String(u).includes('api/presign')) r.clone().json().then((j) => window.__links.push(j.url));"
        " return r; });"
    )
    older = s3.list_object_versions(Bucket=shared_bucket, Prefix="docs/guide.txt")["Versions"]
    older = [v for v in older if not v["IsLatest"]][0]["VersionId"]
    row = browser.find_element(By.XPATH, f"//table[@id='versions-table']//tr[.//code[text()='{older}']]")
    row.find_element(By.XPATH, ".//button[text()='Download']").click()
    link = wait(browser).until(lambda b: (b.execute_script("return window.__links") or [None])[0])
    assert f"versionId={older}" in link
    with urllib.request.urlopen(link) as r:
        assert r.read() == s3.get_object(Bucket=shared_bucket, Key="docs/guide.txt", VersionId=older)["Body"].read()

    browser.find_element(By.XPATH, "//button[text()='Add tag']").click()
    browser.find_element(By.CSS_SELECTOR, ".tag-row .tag-key").send_keys("owner")
    browser.find_element(By.CSS_SELECTOR, ".tag-row .tag-value").send_keys("<b>team</b>")
    by_id(browser, "save-tags").click()
    wait(browser).until(
        lambda b: s3.get_object_tagging(Bucket=shared_bucket, Key="docs/guide.txt")["TagSet"]
        == [{"Key": "owner", "Value": "<b>team</b>"}]
    )
    shot(browser, "object")


def test_keys_with_spaces_plus_percent_and_unicode(browser, kura, s3, shared_bucket):
    """Keys travel percent-encoded through the proxy and presigned URLs and come back as they were."""
    sign_in(browser, kura)
    key = "odd/a b+c%25 ü (1)!*'.txt"
    s3.put_object(Bucket=shared_bucket, Key=key, Body=b"odd key", Metadata={"k": "v"})
    s3.put_object_tagging(Bucket=shared_bucket, Key=key, Tagging={"TagSet": [{"Key": "t", "Value": "1"}]})
    go(browser, f"#/b/{shared_bucket}?prefix=odd%2F")
    wait(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#objects-table a.object"))
    link = browser.find_element(By.CSS_SELECTOR, "#objects-table a.object")
    assert link.text == key[len("odd/"):]
    link.click()
    wait(browser).until(lambda b: b.find_elements(By.ID, "object-metadata") and b.find_elements(By.CSS_SELECTOR, ".tag-row"))
    assert "7 bytes" in by_id(browser, "object-metadata").text
    assert browser.find_element(By.CSS_SELECTOR, ".tag-row .tag-key").get_attribute("value") == "t"
    go(browser, "#/share?" + urllib.parse.urlencode({"bucket": shared_bucket, "key": key}))
    wait(browser).until(lambda b: b.find_elements(By.ID, "make-link"))
    assert by_id(browser, "link-key").get_attribute("value") == key
    by_id(browser, "make-link").click()
    wait(browser).until(lambda b: b.find_elements(By.ID, "link-url"))
    assert curl(by_id(browser, "link-url").get_attribute("value")) == (200, b"odd key")
    # Deleted through the proxy: the exact key goes.
    go(browser, f"#/b/{shared_bucket}?prefix=odd%2F")
    wait(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#objects-table button[data-action='delete']"))
    browser.find_element(By.CSS_SELECTOR, "#objects-table button[data-action='delete']").click()
    confirm(browser, ok=True)
    wait(browser).until(lambda b: "Nothing here" in by_id(b, "listing-status").text)
    assert not exists(s3, shared_bucket, key)


def test_bucket_settings_show_and_save(browser, kura, s3, shared_bucket):
    sign_in(browser, kura)
    go(browser, f"#/b/{shared_bucket}/settings")
    wait(browser).until(lambda b: b.find_elements(By.ID, "anonymous-mode") and b.find_elements(By.ID, "versioning-status"))
    assert "enabled" in by_id(browser, "versioning").text
    # A bucket policy with a JSON error: its line is named and nothing is sent.
    policy = by_id(browser, "bucket-policy-text")
    policy.clear()
    policy.send_keys('{\n  "Version": "2012-10-17",\n  "Statement": [\n    {"Effect": "Allow",}\n  ]\n}')
    by_id(browser, "bucket-policy").find_element(By.XPATH, ".//button[text()='Save policy']").click()
    status = by_id(browser, "bucket-policy").find_element(By.CSS_SELECTOR, ".editor-status")
    wait(browser).until(lambda b: status.get_attribute("data-line") == "4")
    with pytest.raises(botocore.exceptions.ClientError):
        s3.get_bucket_policy(Bucket=shared_bucket)
    # The anonymous mode, through the admin API.
    select = by_id(browser, "anonymous-mode")
    browser.execute_script("arguments[0].value = 'download'", select)
    by_id(browser, "anonymous").find_element(By.XPATH, ".//button[text()='Save']").click()
    wait(browser).until(lambda b: "Anonymous access: download." in by_id(b, "anonymous").text)
    status, body = curl(f"{kura.endpoint}/{shared_bucket}/readme.txt")
    assert (status, body) == (200, b"hello from kura")
    shot(browser, "settings")
    browser.execute_script("arguments[0].value = 'none'", by_id(browser, "anonymous-mode"))
    by_id(browser, "anonymous").find_element(By.XPATH, ".//button[text()='Save']").click()
    wait(browser).until(lambda b: "Anonymous access: none." in by_id(b, "anonymous").text)
    assert curl(f"{kura.endpoint}/{shared_bucket}/readme.txt")[0] == 403


def test_bucket_xml_settings_cors_encryption_public_access_block(browser, kura, s3):
    sign_in(browser, kura)
    bucket = f"settings-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    go(browser, f"#/b/{bucket}/settings")
    wait(browser).until(lambda b: b.find_elements(By.ID, "cors-text") and b.find_elements(By.ID, "encryption-algorithm"))
    cors = by_id(browser, "cors")
    text = by_id(browser, "cors-text")
    # Not well-formed: the line is named, nothing is sent.
    text.send_keys("<CORSConfiguration>\n  <CORSRule>\n    <AllowedOrigin>https://app.example</AllowedOrigin>\n  </CORSRul>\n</CORSConfiguration>")
    cors.find_element(By.XPATH, ".//button[text()='Save']").click()
    status = cors.find_element(By.CSS_SELECTOR, ".editor-status")
    wait(browser).until(lambda b: status.get_attribute("data-line") == "4")
    with pytest.raises(botocore.exceptions.ClientError):
        s3.get_bucket_cors(Bucket=bucket)
    # Well-formed but not a CORS configuration kura accepts: its refusal is shown in the editor.
    text.clear()
    text.send_keys("<CORSConfiguration><CORSRule><AllowedOrigin>https://app.example</AllowedOrigin></CORSRule></CORSConfiguration>")
    cors.find_element(By.XPATH, ".//button[text()='Save']").click()
    wait(browser).until(lambda b: "Refused by kura" in status.text)
    text.clear()
    text.send_keys(
        "<CORSConfiguration><CORSRule><AllowedOrigin>https://app.example</AllowedOrigin>"
        "<AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>"
    )
    cors.find_element(By.XPATH, ".//button[text()='Save']").click()
    wait(browser).until(lambda b: b.find_elements(By.XPATH, "//section[@id='cors']//button[text()='Delete']"))
    rules = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert [(r["AllowedOrigins"], r["AllowedMethods"]) for r in rules] == [(["https://app.example"], ["GET"])]

    by_id(browser, "encryption").find_element(By.XPATH, ".//button[text()='Save']").click()
    wait(browser).until(lambda b: "encrypted with AES256" in by_id(b, "encryption").text)
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"

    pab = by_id(browser, "public-access-block")
    pab.find_element(By.CSS_SELECTOR, "input[name='block_public_policy']").click()
    pab.find_element(By.XPATH, ".//button[text()='Save']").click()
    wait(browser).until(lambda b: "Set on this bucket" in by_id(b, "public-access-block").text)
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert block["BlockPublicPolicy"] is True and block["BlockPublicAcls"] is False

    lifecycle = by_id(browser, "lifecycle")
    by_id(browser, "lifecycle-text").send_keys(
        "<LifecycleConfiguration><Rule><ID>expire-tmp</ID><Filter><Prefix>tmp/</Prefix></Filter>"
        "<Status>Enabled</Status><Expiration><Days>7</Days></Expiration></Rule></LifecycleConfiguration>"
    )
    lifecycle.find_element(By.XPATH, ".//button[text()='Save']").click()
    wait(browser).until(lambda b: b.find_elements(By.XPATH, "//section[@id='lifecycle']//button[text()='Delete']"))
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [(r["ID"], r["Expiration"]["Days"]) for r in rules] == [("expire-tmp", 7)]

    browser.execute_script("arguments[0].value = 'Enabled'", by_id(browser, "versioning-status"))
    by_id(browser, "versioning").find_element(By.XPATH, ".//button[text()='Save']").click()
    wait(browser).until(lambda b: "Versioning is enabled." in by_id(b, "versioning").text)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"


def test_create_a_user_attach_a_policy_and_delete_it(browser, kura):
    sign_in(browser, kura)
    go(browser, "#/identity")
    wait(browser).until(lambda b: b.find_elements(By.ID, "users-table"))
    name = f"dev-{uuid.uuid4().hex[:6]}"
    by_id(browser, "new-user").send_keys(name)
    by_id(browser, "create-user").click()
    wait(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#new-user-secret input"))
    secret = browser.find_element(By.CSS_SELECTOR, "#new-user-secret input").get_attribute("value")
    user = client(kura, name, secret, signature_version="s3v4")
    with pytest.raises(botocore.exceptions.ClientError) as denied:
        user.list_buckets()
    assert denied.value.response["Error"]["Code"] == "AccessDenied", "no policy yet"

    row = lambda b: b.find_element(By.XPATH, f"//table[@id='users-table']//tr[td/code[text()='{name}']]")  # noqa: E731
    wait(browser).until(lambda b: row(b))
    browser.execute_script("arguments[0].value = 'readonly'", row(browser).find_element(By.TAG_NAME, "select"))
    row(browser).find_element(By.XPATH, ".//button[text()='Attach']").click()
    wait(browser).until(lambda b: "readonly" in row(b).find_element(By.CSS_SELECTOR, ".chips").text)
    assert "Buckets" in user.list_buckets()

    row(browser).find_element(By.XPATH, ".//button[text()='Delete']").click()
    confirm(browser, ok=True)
    wait(browser).until(lambda b: not b.find_elements(By.XPATH, f"//table[@id='users-table']//tr[td/code[text()='{name}']]"))
    with pytest.raises(botocore.exceptions.ClientError) as gone:
        user.list_buckets()
    assert gone.value.response["Error"]["Code"] == "InvalidAccessKeyId"


def test_share_a_link_and_fetch_it_with_curl(browser, kura, shared_bucket):
    sign_in(browser, kura)
    go(browser, f"#/share?bucket={shared_bucket}&key=readme.txt")
    wait(browser).until(lambda b: b.find_elements(By.ID, "make-link"))
    by_id(browser, "make-link").click()
    wait(browser).until(lambda b: b.find_elements(By.ID, "link-url"))
    url = by_id(browser, "link-url").get_attribute("value")
    assert url.startswith(kura.endpoint + f"/{shared_bucket}/readme.txt?") and "X-Amz-Signature=" in url
    assert curl(url) == (200, b"hello from kura")
    # The link is for that object only.
    assert curl(url.replace("/readme.txt?", "/docs/guide.txt?"))[0] == 403


def test_issue_and_revoke_an_upload_ticket(browser, kura, s3, shared_bucket, tmp_path):
    sign_in(browser, kura)
    go(browser, f"#/share?bucket={shared_bucket}&key=inbox/report.txt")
    wait(browser).until(lambda b: b.find_elements(By.ID, "issue-ticket"))
    browser.execute_script("arguments[0].value = 'PUT'; arguments[0].dispatchEvent(new Event('change'))", by_id(browser, "ticket-method"))
    by_id(browser, "ticket-max-size").send_keys("100")
    by_id(browser, "issue-ticket").click()
    wait(browser).until(lambda b: b.find_elements(By.ID, "ticket-url"))
    url = by_id(browser, "ticket-url").get_attribute("value")
    first = tmp_path / "first.txt"
    first.write_bytes(b"first report")
    assert curl("-X", "PUT", "--upload-file", str(first), url)[0] == 200
    assert s3.get_object(Bucket=shared_bucket, Key="inbox/report.txt")["Body"].read() == b"first report"

    ticket_id = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["X-Amz-Credential"][0].split("/")[0]
    revoke = f"#tickets-table button[data-ticket='{ticket_id}']"
    wait(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, revoke))
    shot(browser, "share", show=by_id(browser, "ticket-result"))
    browser.find_element(By.CSS_SELECTOR, revoke).click()
    confirm(browser, ok=True)
    wait(browser).until(lambda b: not b.find_elements(By.CSS_SELECTOR, revoke))

    second = tmp_path / "second.txt"
    second.write_bytes(b"second report")
    status, body = curl("-X", "PUT", "--upload-file", str(second), url)
    assert status == 403 and b"AccessDenied" in body, body
    assert s3.get_object(Bucket=shared_bucket, Key="inbox/report.txt")["Body"].read() == b"first report"


def test_edit_a_policy_with_a_json_error_then_save_it(browser, kura):
    sign_in(browser, kura)
    go(browser, "#/identity")
    wait(browser).until(lambda b: b.find_elements(By.ID, "policies-table"))
    by_id(browser, "new-policy").click()
    wait(browser).until(lambda b: b.find_elements(By.ID, "policy-text"))
    name = f"console-{uuid.uuid4().hex[:6]}"
    by_id(browser, "policy-name").send_keys(name)
    text = by_id(browser, "policy-text")
    text.clear()
    broken = '{\n  "Version": "2012-10-17",\n  "Statement": [\n    {"Effect": "Allow", "Action": "s3:GetObject" "Resource": "*"}\n  ]\n}'
    text.send_keys(broken)
    status = browser.find_element(By.CSS_SELECTOR, "#policy-pane .editor-status")
    wait(browser).until(lambda b: status.get_attribute("data-line") == "4")
    assert status.text.startswith("Line 4, column"), status.text
    shot(browser, "policy-error", show=by_id(browser, "policy-pane"))
    by_id(browser, "save-policy").click()
    assert not browser.find_elements(By.CSS_SELECTOR, f"#policies-table button[data-policy='{name}']"), "nothing sent"

    # Valid JSON that the policy grammar refuses: kura's message is shown.
    text.clear()
    text.send_keys('{"Version": "2012-10-17", "Statement": [{"Effect": "Maybe", "Action": "s3:GetObject", "Resource": "*"}]}')
    by_id(browser, "save-policy").click()
    wait(browser).until(lambda b: "Refused by kura" in status.text)
    assert "Effect" in status.text

    text.clear()
    text.send_keys('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}')
    by_id(browser, "save-policy").click()
    wait(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, f"#policies-table button[data-policy='{name}']"))
    # Config-file users, roles and associations are read-only, and say so.
    reader_row = by_id(browser, "users-table").find_element(By.XPATH, f".//tr[td/code[text()='{READER}']]")
    assert "from the configuration file" in reader_row.text
    assert reader_row.find_element(By.XPATH, ".//button[text()='Delete']").get_attribute("disabled") is not None
    config = by_id(browser, "config-identity")
    wait(browser).until(lambda b: "team-a-app" in config.text)
    assert "from the configuration file" in config.text and "arn:aws:iam::000000000000:role/team-a-app" in config.text
    shot(browser, "identity")


def test_why_denied(browser, kura, shared_bucket):
    sign_in(browser, kura)
    go(browser, "#/why")
    wait(browser).until(lambda b: b.find_elements(By.ID, "why-run"))
    for field, value in (("why-principal", READER), ("why-action", "s3:PutObject"), ("why-resource", f"arn:aws:s3:::{shared_bucket}/x")):
        by_id(browser, field).clear()
        by_id(browser, field).send_keys(value)
    by_id(browser, "why-run").click()
    wait(browser).until(lambda b: b.find_elements(By.ID, "why-answer"))
    answer = by_id(browser, "why-answer")
    assert answer.get_attribute("data-decision") == "implicit-deny", answer.text
    assert answer.find_element(By.CSS_SELECTOR, ".explanation").text
    by_id(browser, "why-action").clear()
    by_id(browser, "why-action").send_keys("s3:GetObject")
    by_id(browser, "why-run").click()
    wait(browser).until(lambda b: by_id(b, "why-answer").get_attribute("data-decision") == "allow")
    assert "readonly" in by_id(browser, "why-answer").text, "the deciding statement is named"
    shot(browser, "why")


def test_audit_records_arrive_live(browser, kura, s3, shared_bucket):
    sign_in(browser, kura)
    go(browser, "#/audit")
    wait(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#audit-body tr.audit-row"))
    key = f"audit-{uuid.uuid4().hex[:8]}.txt"
    s3.put_object(Bucket=shared_bucket, Key=key, Body=b"audited")
    wait(browser).until(lambda b: key in by_id(b, "audit-body").text)
    operations = lambda b: {r.get_attribute("data-operation") for r in b.find_elements(By.CSS_SELECTOR, "#audit-body tr.audit-row")}  # noqa: E731
    # The sign-ins are there (the filter asks the server), never a secret.
    by_id(browser, "audit-operation").send_keys("ConsoleSignIn")
    by_id(browser, "audit-status").click()  # leaves the field: its change event filters
    wait(browser).until(lambda b: operations(b) == {"ConsoleSignIn"})
    assert SECRET_KEY not in browser.page_source and READER_SECRET not in browser.page_source
    by_id(browser, "audit-operation").clear()
    by_id(browser, "audit-operation").send_keys("PutObject")
    by_id(browser, "audit-status").click()
    wait(browser).until(lambda b: operations(b) == {"PutObject"})
    shot(browser, "audit")


def test_a_read_only_user_sees_why_and_the_server_refuses_its_writes(browser, kura, s3, shared_bucket):
    sign_in(browser, kura, READER, READER_SECRET)
    assert by_id(browser, "principal").text.endswith(f":user/{READER}")
    go(browser, "#/buckets")
    wait(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, f"button[data-bucket='{shared_bucket}']"))
    create = by_id(browser, "create-bucket")
    wait(browser).until(lambda b: create.get_attribute("disabled") is not None)
    assert "s3:CreateBucket" in create.get_attribute("title")
    delete = browser.find_element(By.CSS_SELECTOR, f"button[data-bucket='{shared_bucket}']")
    wait(browser).until(lambda b: delete.get_attribute("disabled") is not None)
    assert delete.get_attribute("title")

    go(browser, f"#/b/{shared_bucket}")
    wait(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#objects-table tr[data-key='readme.txt']"))
    remove = browser.find_element(By.CSS_SELECTOR, "#objects-table tr[data-key='readme.txt'] button[data-action='delete']")
    wait(browser).until(lambda b: remove.get_attribute("disabled") is not None)
    assert "s3:DeleteObject" in remove.get_attribute("title")
    wait(browser).until(lambda b: "s3:PutObject" in by_id(b, "upload-denied").text)
    assert by_id(browser, "upload-files").get_attribute("disabled") is not None
    download = browser.find_element(By.CSS_SELECTOR, "#objects-table tr[data-key='readme.txt'] button[data-action='download']")
    assert download.get_attribute("disabled") is None, "reading is allowed"
    shot(browser, "read-only")

    # Sharing: a download link is allowed, an upload ticket is not, and the page says so before asking.
    go(browser, f"#/share?bucket={shared_bucket}&key=readme.txt")
    wait(browser).until(lambda b: b.find_elements(By.ID, "issue-ticket"))
    wait(browser).until(lambda b: by_id(b, "issue-ticket").get_attribute("disabled") is not None)
    assert "s3:PutObject" in by_id(browser, "issue-ticket").get_attribute("title")
    assert by_id(browser, "make-link").get_attribute("disabled") is None
    by_id(browser, "make-link").click()
    wait(browser).until(lambda b: b.find_elements(By.ID, "link-url"))
    assert curl(by_id(browser, "link-url").get_attribute("value")) == (200, b"hello from kura")

    # The page itself sends the writes: the server refuses each, and nothing changes.
    put = in_page_fetch(browser, "PUT", f"/kura/console/s3/{shared_bucket}/evil.txt", "evil")
    assert put["status"] == 403 and "AccessDenied" in put["body"], put
    assert not exists(s3, shared_bucket, "evil.txt")
    gone = in_page_fetch(browser, "DELETE", f"/kura/console/s3/{shared_bucket}/readme.txt")
    assert gone["status"] == 403 and "AccessDenied" in gone["body"], gone
    assert exists(s3, shared_bucket, "readme.txt")
    mb = in_page_fetch(browser, "PUT", "/kura/console/s3/evil-bucket-from-reader")
    assert mb["status"] == 403, mb
    assert not bucket_exists(s3, "evil-bucket-from-reader")
    user = in_page_fetch(browser, "PUT", "/kura/console/admin/users/evil", "{}", {"Content-Type": "application/json"})
    assert user["status"] == 403 and "AccessDenied" in user["body"], user
    users = in_page_fetch(browser, "GET", "/kura/console/admin/users")
    assert users["status"] == 403, users
    ticket = in_page_fetch(
        browser,
        "POST",
        "/kura/console/tickets",
        json.dumps({"method": "PUT", "bucket": shared_bucket, "key": "evil.txt"}),
        {"Content-Type": "application/json"},
    )
    assert ticket["status"] == 403, ticket
    sign_out_if_needed(browser, kura)


def test_requests_without_the_cookie_or_with_a_forged_one_are_refused(kura, s3):
    plain = Plain(kura)
    cookie, session, set_cookie = plain.sign_in()
    attributes = [a.strip().lower() for a in set_cookie.split(";")]
    assert "httponly" in attributes and "samesite=strict" in attributes and "path=/kura/console" in attributes
    assert session["principal_arn"].endswith(":root")
    csrf = {"X-Kura-Csrf": session["csrf"]}

    name = f"cookie-{uuid.uuid4().hex[:8]}"
    attempts = {
        "no cookie": {},
        "no cookie, a CSRF token": dict(csrf),
        "forged cookie": {"Cookie": "kura-console=" + "A" * 60, **csrf},
        "altered cookie": {"Cookie": cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB"), **csrf},
    }
    for what, headers in attempts.items():
        status, _, body = plain.request("PUT", f"/kura/console/s3/{name}", headers=headers)
        assert status == 401, (what, status, body)
        assert json.loads(body)["code"] == "NotSignedIn", (what, body)
    status, _, body = plain.request("PUT", f"/kura/console/s3/{name}", headers={"Cookie": cookie})
    assert (status, json.loads(body)["code"]) == (403, "InvalidCsrfToken"), body
    status, _, body = plain.request(
        "PUT", f"/kura/console/s3/{name}", headers={"Cookie": cookie, "X-Kura-Csrf": "0" * len(session["csrf"])}
    )
    assert (status, json.loads(body)["code"]) == (403, "InvalidCsrfToken"), body
    status, _, body = plain.request(
        "PUT", f"/kura/console/s3/{name}", headers={"Cookie": cookie, "Origin": "http://evil.example", **csrf}
    )
    assert status == 403, body
    assert not bucket_exists(s3, name), "no refused request created the bucket"

    # With the cookie and its token the same request works; after sign-out the cookie is worth nothing.
    status, _, body = plain.request("PUT", f"/kura/console/s3/{name}", headers={"Cookie": cookie, **csrf})
    assert status == 200, body
    assert bucket_exists(s3, name)
    status, headers, _ = plain.request("DELETE", "/kura/console/api/session", headers={"Cookie": cookie, **csrf})
    assert status == 204 and "max-age=0" in headers["Set-Cookie"].lower()
    status, _, body = plain.request("GET", "/kura/console/s3/", headers={"Cookie": cookie, **csrf})
    assert status == 401 and json.loads(body)["code"] == "NotSignedIn", body


def test_the_client_logic_in_the_browser(browser, kura):
    """The console's pure functions, imported as the page imports them: JSON and XML error positions, key
    and query encoding, part sizes, "why denied" context lines."""
    sign_in(browser, kura)
    got = browser.execute_async_script(
        r"""
        const done = arguments[arguments.length - 1];
        Promise.all(['editor.js', 'api.js', 'upload.js', 'views/why.js'].map((m) => import('/kura/console/' + m)))
          .then(([editor, api, upload, why]) => done({
            json_ok: editor.jsonError('{"a": [1, 2]}'),
            json_comma: editor.jsonError('{\n  "a": 1,\n}'),
            json_end: editor.jsonError('{\n  "a": [1,\n'),
            xml_ok: editor.xmlError('<?xml version="1.0"?><A x="1"><B>&amp;</B><!-- c --></A>'),
            xml_mismatch: editor.xmlError('<A>\n<B>\n</C>\n</A>'),
            xml_open: editor.xmlError('<A>\n  <B/>'),
            server_line: editor.serverErrorLine('policy p: the policy is not valid JSON: expected value at line 3 column 7'),
            path: api.s3Path('b', "a b/c+d%e!*'()ü.txt"),
            query: api.queryString({tagging: null, prefix: 'a b/', 'max-keys': 1000, skipped: undefined}),
            parts: [upload.partSize(20 * 1024 * 1024), upload.partSize(80 * 1024 ** 3), upload.partSize(5 * 1024 ** 4)],
            context: why.parseContext('aws:SourceIp = 10.0.0.1\n\ns3:prefix=a/\ns3:prefix=b/'),
            bad_context: (() => { try { why.parseContext('novalue'); return null; } catch (e) { return e.message; } })(),
          }))
          .catch((e) => done({error: String(e)}));
        """
    )
    assert "error" not in got, got
    assert got["json_ok"] is None and got["xml_ok"] is None
    assert (got["json_comma"]["line"], got["json_comma"]["column"]) == (3, 1), got["json_comma"]
    assert got["json_end"]["line"] == 3, got["json_end"]
    assert got["xml_mismatch"]["line"] == 3 and "</C> does not close <B>" in got["xml_mismatch"]["message"]
    assert got["xml_open"]["line"] == 1 and "<A> is never closed" in got["xml_open"]["message"]
    assert got["server_line"] == {"line": 3, "column": 7}
    assert got["path"] == "/kura/console/s3/b/a%20b/c%2Bd%25e%21%2A%27%28%29%C3%BC.txt"
    assert got["query"] == "?tagging&prefix=a%20b%2F&max-keys=1000"
    mib = 1024 * 1024
    assert got["parts"] == [8 * mib, 9 * mib, 525 * mib], "8 MiB parts, larger when 10,000 would not do"
    assert got["context"] == {"aws:SourceIp": "10.0.0.1", "s3:prefix": ["a/", "b/"]}
    assert "key=value" in got["bad_context"]


def test_no_script_error_and_no_content_security_policy_violation(browser, kura):
    """Over every page the tests above opened (this test runs last): no uncaught error, no CSP violation
    (the console has no inline script or style), and the page was never asked to run the XSS key."""
    sign_in(browser, kura)
    go(browser, "#/buckets")
    wait(browser).until(lambda b: b.find_elements(By.ID, "buckets-table"))
    entries = browser.get_log("browser")
    assert entries, "the browser's log is collected"
    bad = [
        e["message"]
        for e in entries
        if e["level"] == "SEVERE" and ("Content Security Policy" in e["message"] or "Uncaught" in e["message"])
    ]
    assert not bad, bad
    assert not any("alert" in e["message"] for e in entries if e["source"] == "javascript")
