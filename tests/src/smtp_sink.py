"""A real SMTP server for the end-to-end tests (aiosmtpd 1.4.6).

Usage: python3 smtp_sink.py FOLDER PORT [MODE CERT KEY USER PASSWORD]

MODE is "starttls" (STARTTLS required before anything else) or "smtps"
(TLS from the first byte); both then require a login as USER with
PASSWORD. Without MODE it speaks plain SMTP and offers no STARTTLS.

Every message it accepts is written to FOLDER as NNNN.json (envelope
recipients, decoded subject, plain-text and HTML bodies) next to NNNN.eml
(the bytes as received), each renamed into place whole, so a test never
reads half a file. Prints "ready" once it listens on 127.0.0.1:PORT.
"""

import email
import email.policy
import itertools
import json
import os
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


class Sink:
    def __init__(self, folder):
        self.folder = folder
        # Numbering goes on from what an earlier run of the sink left.
        taken = [int(n.split(".")[0]) for n in os.listdir(folder) if n.endswith(".json")]
        self.numbers = itertools.count(max(taken, default=0) + 1)
        self.lock = threading.Lock()

    def write(self, name, data):
        tmp = os.path.join(self.folder, name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, os.path.join(self.folder, name))

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        plain = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        record = {
            "to": list(envelope.rcpt_tos),
            "from": envelope.mail_from,
            "subject": str(message.get("subject", "")),
            "text": plain.get_content() if plain is not None else "",
            "html": html.get_content() if html is not None else "",
            "content_type": message.get_content_type(),
            "authenticated": bool(session.authenticated),
            "tls": session.ssl is not None
            or server.transport.get_extra_info("ssl_object") is not None,
        }
        with self.lock:
            number = next(self.numbers)
        self.write(f"{number:04}.eml", raw)
        self.write(f"{number:04}.json", json.dumps(record, ensure_ascii=False).encode())
        return "250 Message accepted"


def login_checker(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == user.encode() and auth_data.password == password.encode()
        return AuthResult(success=ok)

    return check


def main():
    folder, port = sys.argv[1], int(sys.argv[2])
    if len(sys.argv) > 3:
        mode, cert, key, user, password = sys.argv[3:8]
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        auth = dict(authenticator=login_checker(user, password), auth_required=True)
        if mode == "starttls":
            controller = Controller(
                Sink(folder), hostname="127.0.0.1", port=port,
                tls_context=context, require_starttls=True, auth_require_tls=True, **auth,
            )
        else:
            controller = Controller(
                Sink(folder), hostname="127.0.0.1", port=port,
                ssl_context=context, auth_require_tls=False, **auth,
            )
    else:
        controller = Controller(Sink(folder), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    # Runs until the test kills it.
    threading.Event().wait()


if __name__ == "__main__":
    main()
