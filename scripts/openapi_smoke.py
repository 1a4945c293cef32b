"""Smoke test of a client generated from /openapi.json by openapi-python-client: it calls every operation the
client has against a running service and checks statuses and bodies as a client author would, and it fails when
the client lacks an operation of the document (a duplicate operationId once made it drop PUT silently).

Run by scripts/openapi-checks.sh, with the generated package `users_api_client` on PYTHONPATH and
USERS_API_BASE, USERS_API_DOCUMENT, USERS_API_ADMIN, USERS_API_ADMIN_PASSWORD in the environment.
"""

import base64
import email
import importlib
import json
import os
import pkgutil
import re
import secrets
import sys

import httpx

import users_api_client.api
from users_api_client import AuthenticatedClient, Client, errors
from users_api_client.models import (
    ListUsersSort,
    LoginWithEmail,
    LoginWithUsername,
    EmailVerification,
    MailRequest,
    NewUser,
    PasswordResetConfirmation,
    Problem,
    RefreshRequest,
    Tokens,
    User,
    UserUpdate,
)

BASE = os.environ["USERS_API_BASE"]
DOCUMENT = json.load(open(os.environ["USERS_API_DOCUMENT"], encoding="utf-8"))
ADMIN = os.environ["USERS_API_ADMIN"]
ADMIN_PASSWORD = os.environ["USERS_API_ADMIN_PASSWORD"]
# The service's file-transport mail folder: the mail operations read their tokens from the .eml files there.
MAIL_DIR = os.environ["USERS_API_MAIL_DIR"]

# Operations the generator skips by design (e.g. a non-JSON request body), called directly with httpx instead:
# operationId -> function(state). Empty today: the generated client has every operation.
DIRECT_CALLS = {}


def snake_case(operation_id):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation_id).lower()


def document_operations():
    """operationId -> (method, path) for every operation of the document."""
    return {
        operation["operationId"]: (method.upper(), path)
        for path, item in DOCUMENT["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "operationId" in operation
    }


def generated_operations():
    """Module name -> module, for every operation module of the generated client."""
    modules = {}
    for tag in pkgutil.iter_modules(users_api_client.api.__path__):
        package = importlib.import_module(f"users_api_client.api.{tag.name}")
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"users_api_client.api.{tag.name}.{info.name}")
            if hasattr(module, "sync_detailed"):
                modules[info.name] = module
    return modules


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def expect_status(response, status, what):
    expect(
        response.status_code == status,
        f"{what}: expected {status}, got {response.status_code}: {response.content[:300]!r}",
    )


def mail_token(to, kind, count=1):
    """The token of the `count`th mail of `kind` to `to` in the mail folder, waiting up to 10 s for it."""
    import time

    deadline = time.monotonic() + 10
    while True:
        mails = []
        if os.path.isdir(MAIL_DIR):
            for name in sorted(os.listdir(MAIL_DIR)):
                if name.endswith(".eml"):
                    text = open(os.path.join(MAIL_DIR, name), encoding="utf-8").read()
                    if f"To: {to}" in text and f"X-Users-Api-Kind: {kind}" in text:
                        mails.append(text)
        if len(mails) >= count:
            # The body is quoted-printable when a line (the link) is long: decode it as a mail client would.
            body = email.message_from_string(mails[count - 1]).get_payload(decode=True).decode("utf-8")
            match = re.search(r"\?token=([A-Za-z0-9_-]+)", body)
            expect(match is not None, f"{kind} mail: a link with a token")
            return match.group(1)
        expect(time.monotonic() < deadline, f"no {kind} mail to {to}")
        time.sleep(0.1)


class Smoke:
    def __init__(self, operations):
        self.op = operations
        self.anonymous = Client(base_url=BASE, raise_on_unexpected_status=True)
        self.called = set()
        suffix = secrets.token_hex(4)
        self.username = f"smoke_{suffix}"
        self.email = f"smoke-{suffix}@example.com"
        self.password = f"smoke password {suffix}"

    def call(self, operation_id, **kwargs):
        """Calls the generated operation and records that it was called."""
        self.called.add(operation_id)
        return self.op[snake_case(operation_id)].sync_detailed(**kwargs)

    def as_user(self, token):
        return AuthenticatedClient(base_url=BASE, token=token, raise_on_unexpected_status=True)

    def login(self, body, what):
        reply = self.call("login", client=self.anonymous, body=body)
        expect_status(reply, 200, what)
        expect(isinstance(reply.parsed, Tokens), f"{what}: a token pair")
        expect(reply.parsed.token_type == "Bearer", f"{what}: token_type Bearer")
        expect(reply.parsed.expires_in > 0, f"{what}: expires_in > 0")
        return reply.parsed

    def operations(self):
        reply = self.call("health", client=self.anonymous)
        expect_status(reply, 200, "health")
        expect(reply.parsed.status == "ok", "health: status ok")

        reply = self.call("ready", client=self.anonymous)
        expect_status(reply, 200, "ready")
        expect(reply.parsed.status == "ok", "ready: status ok")

        reply = self.call("openapi", client=self.anonymous)
        expect_status(reply, 200, "openapi")
        expect(json.loads(reply.content) == DOCUMENT, "openapi: the same document as fetched before")

        reply = self.call("docs", client=self.anonymous)
        expect_status(reply, 302, "docs")
        expect(reply.headers.get("location") == "/docs/index.html", "docs: redirects to /docs/index.html")

        # Sign-up without a token.
        reply = self.call(
            "createUser",
            client=self.anonymous,
            body=NewUser(username=self.username, email=self.email, password=self.password, name="Smoke Test"),
        )
        expect_status(reply, 201, "createUser")
        created = reply.parsed
        expect(isinstance(created, User), "createUser: a user")
        expect(created.username == self.username and created.email == self.email, "createUser: the fields sent")
        expect(created.role.value == "user" and created.age is None, "createUser: default role, no age")
        expect(reply.headers.get("location") == f"/users/{created.id}", "createUser: Location of the new user")

        # Both shapes of the login body.
        tokens = self.login(LoginWithUsername(username=self.username, password=self.password), "login (username)")
        self.login(LoginWithEmail(email=self.email.upper(), password=self.password), "login (email)")
        wrong = self.call(
            "login", client=self.anonymous, body=LoginWithUsername(username=self.username, password="not the password")
        )
        expect_status(wrong, 401, "login with a wrong password")
        expect(isinstance(wrong.parsed, Problem), "login with a wrong password: a problem")
        expect(wrong.parsed.type_ == "/problems/unauthorized", "login with a wrong password: /problems/unauthorized")

        user = self.as_user(tokens.access_token)
        reply = self.call("getMe", client=user)
        expect_status(reply, 200, "getMe")
        expect(reply.parsed.id == created.id, "getMe: the caller")

        reply = self.call("getUser", client=user, id=created.id)
        expect_status(reply, 200, "getUser")
        expect(reply.parsed.username == self.username, "getUser: the user")

        reply = self.call("putUser", client=user, id=created.id, body=UserUpdate(name="Put Name"))
        expect_status(reply, 200, "putUser")
        expect(reply.parsed.name == "Put Name", "putUser: the new name")

        reply = self.call("updateUser", client=user, id=created.id, body=UserUpdate(age=42))
        expect_status(reply, 200, "updateUser")
        expect(reply.parsed.age == 42 and reply.parsed.name == "Put Name", "updateUser: the new age, the name kept")
        expect(reply.parsed.updated_at >= created.updated_at, "updateUser: updated_at does not go back")

        # A non-admin may not list users.
        reply = self.call("listUsers", client=user)
        expect_status(reply, 403, "listUsers as a user")

        admin = self.as_user(self.login(LoginWithUsername(username=ADMIN, password=ADMIN_PASSWORD), "login (admin)").access_token)
        reply = self.call("listUsers", client=admin, sort=ListUsersSort.ID_DESC, limit=1, q=self.username.upper())
        expect_status(reply, 200, "listUsers")
        expect([u.id for u in reply.parsed] == [created.id], "listUsers: the one matching user")
        expect(reply.headers.get("x-total-count") == "1", "listUsers: X-Total-Count")
        reply = self.call("listUsers", client=admin, sort=ListUsersSort.ID_DESC)
        ids = [u.id for u in reply.parsed]
        expect(ids == sorted(ids, reverse=True) and created.id in ids, "listUsers: sorted by id, descending")
        # A page after a user (the generated client's name for starting_after).
        reply = self.call("listUsers", client=admin, sort=ListUsersSort.ID_DESC, starting_after=ids[0])
        expect_status(reply, 200, "listUsers after a user")
        expect([u.id for u in reply.parsed][: len(ids) - 1] == ids[1:], "listUsers: the users after the first, in order")

        self.sessions(created, user)

        # A session of its own: logging out ends its access tokens too.
        spare = self.login(LoginWithUsername(username=self.username, password=self.password), "login (to log out)")
        reply = self.call("refresh", client=self.anonymous, body=RefreshRequest(refresh_token=spare.refresh_token))
        expect_status(reply, 200, "refresh")
        renewed = reply.parsed
        expect(renewed.refresh_token != spare.refresh_token, "refresh: a new refresh token")
        reply = self.call("logout", client=self.anonymous, body=RefreshRequest(refresh_token=renewed.refresh_token))
        expect_status(reply, 204, "logout")
        reply = self.call("refresh", client=self.anonymous, body=RefreshRequest(refresh_token=renewed.refresh_token))
        expect_status(reply, 401, "refresh after logout")
        reply = self.call("getMe", client=self.as_user(renewed.access_token))
        expect_status(reply, 401, "getMe with a logged-out session's token")

        # The service runs with EdDSA tokens: the key set names the key of every token it issued.
        reply = self.call("jwks", client=self.anonymous)
        expect_status(reply, 200, "jwks")
        expect(reply.headers.get("cache-control", "").startswith("public, max-age="), "jwks: cacheable")
        keys = json.loads(reply.content)["keys"]
        expect(all(k["kty"] == "OKP" and k["crv"] == "Ed25519" and "d" not in k for k in keys), "jwks: public Ed25519 keys")
        header = json.loads(base64.urlsafe_b64decode(renewed.access_token.split(".")[0] + "=="))
        expect(header["alg"] == "EdDSA", "jwks: tokens are EdDSA")
        expect(header["kid"] in [k["kid"] for k in keys], "jwks: the token's kid is served")

        reply = self.call("metrics", client=self.anonymous)
        expect_status(reply, 200, "metrics")
        expect("# TYPE" in reply.parsed, "metrics: Prometheus text")

        # Account lifecycle: new users are active and unverified; an admin disables one (its login is then a 403
        # /problems/account-disabled) and clears a lockout.
        expect(created.status.value == "active", "createUser: status active")
        expect(created.email_verified is False and created.disabled_until is None, "createUser: unverified, no ban")
        disable = UserUpdate.from_dict({"status": "disabled"})
        reply = self.call("updateUser", client=admin, id=created.id, body=disable)
        expect_status(reply, 200, "updateUser (disable)")
        expect(reply.parsed.status.value == "disabled", "updateUser: status disabled")
        expect(reply.parsed.last_login_at is not None, "updateUser: last_login_at set by the logins")
        refused = self.call(
            "login", client=self.anonymous, body=LoginWithUsername(username=self.username, password=self.password)
        )
        expect_status(refused, 403, "login of a disabled user")
        expect(refused.parsed.type_ == "/problems/account-disabled", "login of a disabled user: account-disabled")
        reply = self.call("updateUser", client=admin, id=created.id, body=UserUpdate.from_dict({"status": "active"}))
        expect_status(reply, 200, "updateUser (enable)")
        reply = self.call("clearLockout", client=admin, id=created.id)
        expect_status(reply, 204, "clearLockout")
        reply = self.call("clearLockout", client=user, id=created.id)
        expect_status(reply, 401, "clearLockout with a disabled user's ended token")
        tokens = self.login(LoginWithUsername(username=self.username, password=self.password), "login (enabled)")
        user = self.as_user(tokens.access_token)

        # Mail: the sign-up's verification mail, a resend, a password reset; bad tokens are 400 invalid-token.
        reply = self.call("verifyEmail", client=self.anonymous, body=EmailVerification(token="not-a-token"))
        expect_status(reply, 400, "verifyEmail with an unknown token")
        expect(reply.parsed.type_ == "/problems/invalid-token", "verifyEmail: invalid-token")
        reply = self.call("resendVerification", client=self.anonymous, body=MailRequest(email=self.email))
        expect_status(reply, 202, "resendVerification")
        token = mail_token(self.email, "email-verification", 2)
        reply = self.call("verifyEmail", client=self.anonymous, body=EmailVerification(token=token))
        expect_status(reply, 204, "verifyEmail")
        # Verified now: the request is accepted and sends nothing (the address keeps its mail budget for the reset).
        reply = self.call("sendEmailVerification", client=admin, id=created.id)
        expect_status(reply, 202, "sendEmailVerification")
        reply = self.call("requestPasswordReset", client=self.anonymous, body=MailRequest(email=self.email))
        expect_status(reply, 202, "requestPasswordReset")
        reply = self.call("requestPasswordReset", client=self.anonymous, body=MailRequest(email="nobody@example.com"))
        expect_status(reply, 202, "requestPasswordReset of an unknown address")
        token = mail_token(self.email, "password-reset")
        self.password = f"{self.password} renewed"
        body = PasswordResetConfirmation(token=token, password=self.password)
        reply = self.call("confirmPasswordReset", client=self.anonymous, body=body)
        expect_status(reply, 204, "confirmPasswordReset")
        reply = self.call("confirmPasswordReset", client=self.anonymous, body=body)
        expect_status(reply, 400, "confirmPasswordReset with a used token")
        expect(reply.parsed.type_ == "/problems/invalid-token", "confirmPasswordReset: invalid-token")
        reply = self.call("getMe", client=user)
        expect_status(reply, 401, "getMe after a password reset")
        tokens = self.login(LoginWithUsername(username=self.username, password=self.password), "login (reset)")
        user = self.as_user(tokens.access_token)
        reply = self.call("getMe", client=user)
        expect(reply.parsed.email_verified is True, "getMe: verified")

        reply = self.call("deleteUser", client=user, id=created.id)
        expect_status(reply, 204, "deleteUser")
        reply = self.call("getUser", client=admin, id=created.id)
        expect_status(reply, 404, "getUser after deleteUser")
        reply = self.call("getMe", client=user)
        expect_status(reply, 401, "getMe with a deleted user's token")

        self.revoke_every_session(admin)

    def sessions(self, created, user):
        """A second login of the user, listed beside the caller's own session, then revoked."""
        other = self.login(LoginWithUsername(username=self.username, password=self.password), "login (second session)")
        reply = self.call("listSessions", client=user, id=created.id)
        expect_status(reply, 200, "listSessions")
        sessions = reply.parsed
        expect(len(sessions) >= 2, "listSessions: every login's session")
        expect(sum(1 for s in sessions if s.current) == 1, "listSessions: one current session")
        expect(sessions[0].created_at >= sessions[-1].created_at, "listSessions: newest first")
        newest = sessions[0]
        expect(not newest.current, "listSessions: the second login is the newest, not the caller's")
        reply = self.call("revokeSession", client=user, id=created.id, sid=newest.id)
        expect_status(reply, 204, "revokeSession")
        reply = self.call("getMe", client=self.as_user(other.access_token))
        expect_status(reply, 401, "getMe with a revoked session's token")
        reply = self.call("revokeSession", client=user, id=created.id, sid=newest.id)
        expect_status(reply, 404, "revokeSession again")

    def revoke_every_session(self, admin):
        """Another user logs in twice and ends every session of theirs."""
        suffix = secrets.token_hex(4)
        username, password = f"smoke_{suffix}", f"smoke password {suffix}"
        body = NewUser(username=username, email=f"smoke-{suffix}@example.com", password=password)
        reply = self.call("createUser", client=self.anonymous, body=body)
        expect_status(reply, 201, "createUser (second user)")
        second = reply.parsed
        first = self.login(LoginWithUsername(username=username, password=password), "login (second user)")
        own = self.as_user(self.login(LoginWithUsername(username=username, password=password), "login again").access_token)
        reply = self.call("revokeSessions", client=own, id=second.id)
        expect_status(reply, 204, "revokeSessions")
        for token, what in [(first.access_token, "an older session"), (own.token, "the caller's own session")]:
            reply = self.call("getMe", client=self.as_user(token))
            expect_status(reply, 401, f"getMe after revokeSessions: {what}")
        reply = self.call("deleteUser", client=admin, id=second.id)
        expect_status(reply, 204, "deleteUser (second user)")


def admin_headers(smoke, what):
    tokens = smoke.login(LoginWithUsername(username=ADMIN, password=ADMIN_PASSWORD), what)
    return {"Authorization": f"Bearer {tokens.access_token}"}


def import_users_directly(smoke):
    """POST /users/import: NDJSON in and out, which generated clients do not speak."""
    suffix = secrets.token_hex(4)
    line = {"id": 7, "username": f"imported_{suffix}", "email": f"imported-{suffix}@example.com", "password_hash": None}
    headers = {**admin_headers(smoke, "login (admin, import)"), "Content-Type": "application/x-ndjson"}
    reply = httpx.post(f"{BASE}/users/import", content=json.dumps(line) + "\n", headers=headers)
    expect_status(reply, 200, "importUsers")
    results = [json.loads(result) for result in reply.text.splitlines()]
    expect(len(results) == 1 and results[0]["status"] == "created", f"importUsers: one user created: {results}")
    expect(results[0]["line"] == 1 and results[0]["source_id"] == 7, "importUsers: the line and its source_id")


def export_users_directly(smoke):
    """GET /users/export: NDJSON, one user per line."""
    reply = httpx.get(f"{BASE}/users/export", params={"role": "admin"}, headers=admin_headers(smoke, "login (admin, export)"))
    expect_status(reply, 200, "exportUsers")
    users = [json.loads(user) for user in reply.text.splitlines()]
    expect(any(user["username"] == ADMIN for user in users), "exportUsers: the admin is among the admins")
    expect(all("password_hash" not in user for user in users), "exportUsers: no hashes unless asked")


DIRECT_CALLS["importUsers"] = import_users_directly
DIRECT_CALLS["exportUsers"] = export_users_directly


def main():
    documented = document_operations()
    generated = generated_operations()
    missing = sorted(op for op in documented if snake_case(op) not in generated and op not in DIRECT_CALLS)
    if missing:
        print(f"the generated client lacks these operations of the document: {', '.join(missing)}", file=sys.stderr)
        print(f"smoke: 0 passed, {len(missing)} failed")
        return 1
    smoke = Smoke(generated)
    try:
        smoke.operations()
        for operation_id, direct_call in DIRECT_CALLS.items():
            direct_call(smoke)
            smoke.called.add(operation_id)
    except (AssertionError, errors.UnexpectedStatus, httpx.HTTPError) as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        print(f"smoke: {len(smoke.called) - 1} passed, 1 failed")
        return 1
    uncalled = sorted(set(documented) - smoke.called)
    if uncalled:
        print(f"operations of the document the smoke test never called: {', '.join(uncalled)}", file=sys.stderr)
        print(f"smoke: {len(smoke.called)} passed, {len(uncalled)} failed")
        return 1
    for operation_id in sorted(smoke.called):
        method, path = documented[operation_id]
        print(f"ok  {operation_id:12} {method} {path}")
    print(f"smoke: {len(smoke.called)} passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
