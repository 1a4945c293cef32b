"""A real SMTP server (aiosmtpd) on loopback for crates/mail's tests.

Prints "PORT <n>" once it listens, then serves until killed. Each mail it accepts is written as JSON into --spool:
envelope, whether the connection was encrypted, the login that authenticated, and the message as received.
"""
import argparse
import asyncio
import json
import os
import ssl
import uuid

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

parser = argparse.ArgumentParser()
parser.add_argument("--mode", choices=["starttls", "implicit", "plain"], required=True)
parser.add_argument("--cert")
parser.add_argument("--key")
parser.add_argument("--user")
parser.add_argument("--password")
parser.add_argument("--refuse", action="store_true", help="answer every recipient 550")
parser.add_argument("--spool", required=True)
args = parser.parse_args()


class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if args.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "encrypted": server.transport.get_extra_info("sslcontext") is not None,
            "login": session.auth_data if session.authenticated else None,
            "data": envelope.content.decode("utf-8", "replace"),
        }
        path = os.path.join(args.spool, f"{uuid.uuid4()}.json")
        with open(path + ".tmp", "w") as f:
            json.dump(record, f)
        os.rename(path + ".tmp", path)
        return "250 2.0.0 queued"


def authenticator(server, session, envelope, mechanism, auth_data):
    if (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == args.user
        and auth_data.password.decode() == args.password
    ):
        return AuthResult(success=True, auth_data=args.user)
    return AuthResult(success=False, handled=False)


async def main():
    context = None
    if args.mode != "plain":
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)

    def factory():
        return SMTP(
            Handler(),
            hostname="localhost",
            tls_context=context if args.mode == "starttls" else None,
            require_starttls=args.mode == "starttls",
            authenticator=authenticator if args.user else None,
            auth_required=bool(args.user),
            # Implicit TLS is encrypted from the first byte; aiosmtpd only knows STARTTLS as "TLS".
            auth_require_tls=args.mode == "starttls",
        )

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        factory, "127.0.0.1", 0, ssl=context if args.mode == "implicit" else None
    )
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


asyncio.run(main())
