"""A throwaway Dovecot IMAP server on loopback, for the mailbox tests and the reader's benchmark.

Its own process, configuration, self-signed certificate, user and mail directory, all in a
temporary directory; the machine's own Dovecot (its configuration and service) is never touched.
Debian: `apt-get install dovecot-imapd` (.ci/run installs it).
"""

import imaplib
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DOVECOT = "/usr/sbin/dovecot"
USER, PASSWORD = "bounces", "test-mailbox-password"

_CONFIG = """\
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
info_log_path = {base}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{base}/cert.pem
ssl_key = <{base}/key.pem
disable_plaintext_auth = yes
auth_mechanisms = plain
mail_location = maildir:{base}/mail/%u
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = {uid}
last_valid_uid = {uid}
first_valid_gid = {gid}
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
imap_max_line_length = 2M
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {base}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={base}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {port}
    ssl = yes
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


def available() -> str | None:
    """Why the server cannot run here, or None."""
    if not Path(DOVECOT).exists():
        return f"no Dovecot at {DOVECOT} (Debian: apt-get install dovecot-imapd)"
    if shutil.which("openssl") is None:
        return "no openssl to make the test server's certificate"
    return None


@dataclass(frozen=True)
class Server:
    port: int
    ca_file: str
    base: Path

    @property
    def url(self) -> str:
        return f"imaps://{USER}:{PASSWORD}@127.0.0.1:{self.port}/INBOX"

    def connect(self) -> imaplib.IMAP4_SSL:
        imap = imaplib.IMAP4_SSL(
            "127.0.0.1", self.port, ssl_context=ssl.create_default_context(cafile=self.ca_file)
        )
        imap.login(USER, PASSWORD)
        return imap

    def append(self, *messages: bytes, folder: str = "INBOX") -> None:
        """Deliver messages as the mail server would: appended to the mailbox, unread."""
        imap = self.connect()
        try:
            for message in messages:
                status, _data = imap.append(folder, None, None, message)
                assert status == "OK", status
        finally:
            imap.logout()

    def count(self, folder: str) -> int:
        imap = self.connect()
        try:
            status, data = imap.select(f'"{folder}"', readonly=True)
            return int(data[0]) if status == "OK" else 0
        finally:
            imap.logout()

    def folders(self) -> dict[str, int]:
        imap = self.connect()
        try:
            names = [line.decode().rsplit(" ", 1)[1].strip('"') for line in imap.list()[1]]
        finally:
            imap.logout()
        return {name: self.count(name) for name in names}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def dovecot_server() -> Iterator[Server]:
    """Start a Dovecot of its own on a free loopback port; stop it and remove its files after."""
    if (reason := available()) is not None:
        raise RuntimeError(reason)
    # Dovecot refuses mail access as root: as root, the mail belongs to `nobody` and the login and
    # internal processes run as Debian's `dovenull` and `dovecot`; otherwise all is this user's.
    if os.geteuid() == 0:
        mail_user = pwd.getpwnam("nobody")
        login_user, internal_user, internal_group = "dovenull", "dovecot", "dovecot"
    else:
        mail_user = pwd.getpwuid(os.geteuid())
        login_user = internal_user = mail_user.pw_name
        internal_group = mail_user.pw_name
    base = Path(tempfile.mkdtemp(prefix="registry-dovecot-"))
    base.chmod(0o755)  # the mail and login users must reach their directories below
    process = None
    try:
        for directory in ("run", "state", "mail", "home"):
            (base / directory).mkdir()
        for directory in ("mail", "home"):
            os.chown(base / directory, mail_user.pw_uid, mail_user.pw_gid)
        subprocess.run(  # noqa: S603
            [
                shutil.which("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                "-keyout", str(base / "key.pem"), "-out", str(base / "cert.pem"),
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        (base / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
        (base / "passwd").chmod(0o644)
        port = _free_port()
        (base / "dovecot.conf").write_text(
            _CONFIG.format(
                base=base,
                port=port,
                uid=mail_user.pw_uid,
                gid=mail_user.pw_gid,
                login_user=login_user,
                internal_user=internal_user,
                internal_group=internal_group,
            )
        )
        process = subprocess.Popen(  # noqa: S603
            [DOVECOT, "-F", "-c", str(base / "dovecot.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        server = Server(port=port, ca_file=str(base / "cert.pem"), base=base)
        deadline = time.monotonic() + 20
        while True:
            try:
                server.connect().logout()
                break
            except (OSError, imaplib.IMAP4.error):
                if process.poll() is not None or time.monotonic() > deadline:
                    log = (
                        (base / "dovecot.log").read_text()
                        if (base / "dovecot.log").exists()
                        else ""
                    )
                    stderr = process.stderr.read().decode() if process.poll() is not None else ""
                    raise RuntimeError(f"Dovecot did not start: {stderr} {log[-2000:]}") from None
                time.sleep(0.1)
        yield server
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(base, ignore_errors=True)
