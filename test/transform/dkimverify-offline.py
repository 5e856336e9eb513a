# Runs Debian python3-dkim's own `dkimverify` entry point (dkim.dkimverify.main) on the message
# on stdin, with DNS answered from the JSON object in $DKIM_TXT ({"sel._domainkey.dom.": "v=DKIM1; ..."})
# instead of the network: the verification code is dkimverify's, only the TXT lookup is local.
import json, os, sys
sys.path.insert(0, "/usr/lib/python3/dist-packages")
import dkim
import dkim.dkimverify

records = json.loads(os.environ["DKIM_TXT"])

def txt(name, timeout=5):
    key = name.decode() if isinstance(name, bytes) else name
    value = records.get(key) or records.get(key.rstrip("."))
    return value.encode() if value else None

dkim.DKIM.verify.__defaults__ = (0, txt)
dkim.dkimverify.main()
