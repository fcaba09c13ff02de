"""An independent Sparkplug B peer for the tests: Python protobuf with proto/sparkplug_b.proto
compiled at run time by grpcio-tools (no code shared with edgecite).

  sparkplug_peer.py encode SPEC.json OUT_DIR   # SPEC: [{"file", "timestamp", "seq", "metrics": [...]}]
  sparkplug_peer.py decode FILE...             # prints a JSON list of the decoded payloads

A metric in SPEC: {"name"?, "alias"?, "datatype", "value"?, "is_null"?, "timestamp"?,
"is_historical"?, "send_datatype"?, "properties"?}; the value goes into the field the datatype
calls for. `"send_datatype": false` leaves the datatype off the wire, as the specification
recommends for data messages (the receiver has it from the birth). `"properties"`:
{"Quality": [3, 192], "engUnit": [12, "degC"]}, key -> [datatype, value], as a PropertySet.

As a host application the tests use it to build NCMD/DCMD commands (Node Control/Rebirth,
writes by name or alias), births and deaths (NDEATH with bdSeq) of a simulated edge node;
the MQTT transport is the test's own client.
"""
import importlib
import json
import pathlib
import sys
import tempfile

from google.protobuf.json_format import MessageToDict
from grpc_tools import protoc

ROOT = pathlib.Path(__file__).resolve().parents[2]


def load():
    out = tempfile.mkdtemp()
    proto = ROOT / "proto" / "sparkplug_b.proto"
    rc = protoc.main(["protoc", f"-I{proto.parent}", f"--python_out={out}", str(proto)])
    if rc != 0:
        sys.exit(f"protoc failed on {proto}")
    sys.path.insert(0, out)
    return importlib.import_module("sparkplug_b_pb2")


def set_value(m, dt, v):
    if dt in (1, 2, 3, 5, 6, 7):
        m.int_value = v & 0xFFFFFFFF
    elif dt in (4, 8, 13):
        m.long_value = v & 0xFFFFFFFFFFFFFFFF
    elif dt == 9:
        m.float_value = v
    elif dt == 10:
        m.double_value = v
    elif dt == 11:
        m.boolean_value = v
    elif dt in (12, 14):
        m.string_value = v
    else:
        m.bytes_value = bytes(v)


def main():
    pb = load()
    if sys.argv[1] == "encode":
        spec = json.loads(pathlib.Path(sys.argv[2]).read_text())
        out = pathlib.Path(sys.argv[3])
        for item in spec:
            p = pb.Payload()
            for k in ("timestamp", "seq"):
                if k in item:
                    setattr(p, k, item[k])
            for ms in item["metrics"]:
                m = p.metrics.add()
                for k in ("name", "alias", "timestamp", "is_null", "datatype", "is_historical"):
                    if k in ms:
                        setattr(m, k, ms[k])
                if "value" in ms:
                    set_value(m, ms["datatype"], ms["value"])
                if ms.get("send_datatype") is False:
                    m.ClearField("datatype")
                for key, (dt, v) in ms.get("properties", {}).items():
                    m.properties.keys.append(key)
                    pv = m.properties.values.add()
                    pv.type = dt
                    set_value(pv, dt, v)  # PropertyValue has the same value fields
            (out / item["file"]).write_bytes(p.SerializeToString())
    elif sys.argv[1] == "decode":
        res = []
        for f in sys.argv[2:]:
            p = pb.Payload()
            p.ParseFromString(pathlib.Path(f).read_bytes())
            res.append(MessageToDict(p, preserving_proto_field_name=True))
        print(json.dumps(res))
    else:
        sys.exit("usage: sparkplug_peer.py encode SPEC OUT_DIR | decode FILE...")


main()
