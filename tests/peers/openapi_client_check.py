"""Drive the edgecite API with a client generated from its OpenAPI document by
openapi-python-client (tests/api_openapi_client.rs generates it and runs this script).

Usage: openapi_client_check.py BASE_URL USER PASSWORD   (the generated package on PYTHONPATH
as `edgecite_client`). Prints one line per step; exits non-zero at the first failure.
"""
import io
import sys

from edgecite_client import Client
from edgecite_client.api.assets import assets as list_assets
from edgecite_client.api.auth import login, me
from edgecite_client.api.findings import acknowledge, finding, findings
from edgecite_client.api.notes import add_note, add_photo, notes
from edgecite_client.models import AckBody, AssetView, FindingView, Login, Note, NoteBody, Principal
from edgecite_client.models.state_param import StateParam
from edgecite_client.types import File

base, user, password = sys.argv[1:4]


def step(name, ok, detail=""):
    print(f"{'ok' if ok else 'FAIL'} {name} {detail}".rstrip(), flush=True)
    if not ok:
        sys.exit(1)


anon = Client(base_url=base, raise_on_unexpected_status=True)
r = login.sync_detailed(client=anon, body=Login(username=user, password=password))
step("login", r.status_code == 200 and isinstance(r.parsed, Principal), str(r.status_code))
cookie = anon.get_httpx_client().cookies.get("edgecite_session")
step("session cookie", bool(cookie))
c = Client(base_url=base, cookies={"edgecite_session": cookie}, raise_on_unexpected_status=True)
who = me.sync(client=c)
step("me", isinstance(who, Principal) and who.user == user, repr(who and who.role))

assets = list_assets.sync(client=c)
step("assets", isinstance(assets, list) and len(assets) >= 1 and all(isinstance(a, AssetView) for a in assets),
     ",".join(a.id for a in assets))
opened = findings.sync(client=c, state=StateParam.OPEN)
step("findings", isinstance(opened, list) and len(opened) >= 2 and all(isinstance(f, FindingView) for f in opened),
     str(len(opened)))
todo = [f for f in opened if not f.acknowledged]
step("two unacknowledged findings", len(todo) >= 2, str(len(todo)))
a, b = todo[0].id, todo[1].id

# Without a body (the document says it is optional), then with one.
r = acknowledge.sync_detailed(a, client=c)
step("acknowledge without a body", r.status_code == 200 and isinstance(r.parsed, FindingView), str(r.status_code))
r = acknowledge.sync_detailed(b, client=c, body=AckBody(comment="seen from the generated client", client_id="gen-ack-1"))
step("acknowledge with a body", r.status_code == 200 and r.parsed.acknowledged.comment == "seen from the generated client",
     str(r.status_code))
r = acknowledge.sync_detailed(b, client=c, body=AckBody(comment="again", client_id="gen-ack-1"))
step("a retried acknowledgement is answered as the first", r.status_code == 200, str(r.status_code))
r = acknowledge.sync_detailed(b, client=c, body=AckBody(comment="someone else"))
step("a second acknowledgement is refused", r.status_code == 409, str(r.status_code))
step("finding shows the acknowledgement", finding.sync(b, client=c).acknowledged.by == user)

r = add_note.sync_detailed(a, client=c, body=NoteBody(text="from the generated client", client_id="gen-note-1"))
step("add a note", r.status_code == 201 and isinstance(r.parsed, Note), str(r.status_code))
r2 = add_note.sync_detailed(a, client=c, body=NoteBody(text="from the generated client", client_id="gen-note-1"))
step("a retried note is stored once", r2.status_code == 201 and r2.parsed.id == r.parsed.id, str(r2.status_code))

png = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201e5273ea10000000049454e44ae426082")
r = add_photo.sync_detailed(a, client=c, body=File(payload=io.BytesIO(png), file_name="p.png", mime_type="image/png"),
                            text="gauge")
step("add a photo", r.status_code == 201 and isinstance(r.parsed, Note) and bool(r.parsed.photo_url), str(r.status_code))
ns = notes.sync(a, client=c)
step("notes listed", [n.text for n in ns].count("from the generated client") == 1 and any(n.photo_url for n in ns),
     str(len(ns)))
photo = c.get_httpx_client().get(r.parsed.photo_url)
step("photo served with its type", photo.status_code == 200 and photo.headers["content-type"] == "image/png"
     and photo.content == png, photo.headers.get("content-type", ""))
print("all steps passed")
