/* flypaper rules: the tools that sent a request. A tool is named by what
 * only it sends: its own User-Agent, or a constant of its source (a test
 * string, a marker path, a probe). Generic requests any client makes
 * (GET / HTTP/1.0, a TLS hello) name no one. The Core Rule Set's scanner
 * lists, when installed, add more names (docs/DESIGN.md, "Families").
 * Strings are literals, regexes bounded: a rule must cost little on any
 * bytes. http_* are the normalised fields (README, "Rules"). */

rule nikto : nikto tool
{
    meta:
        description = "Nikto: its User-Agent (2.1), or the constants of its tests (2.5 sends a browser's)"
        family = "nikto"
        kind = "tool"
    strings:
        $ua = "(Nikto/"
        $added = "Nikto-Added"
        $shock = "93e4r0-CVE-"
        $rfi = "cirt.net/public/rfiinc.txt"
    condition:
        any of them or http_ua icontains "nikto"
}

rule sqlmap : sqlmap tool
{
    meta:
        description = "sqlmap: its User-Agent, or its WAF check payload"
        family = "sqlmap"
        kind = "tool"
    strings:
        $ua = "User-Agent: sqlmap/" nocase
        $site = "(https://sqlmap.org)"
        $waf = "EXEC xp_cmdshell('cat ../../../etc/passwd')#"
    condition:
        any of them or http_ua icontains "sqlmap/" or http_target contains "xp_cmdshell('cat ../../../etc/passwd')"
}

rule gobuster : gobuster tool
{
    meta:
        description = "gobuster: User-Agent gobuster/3.x or gobuster 2.x"
        family = "gobuster"
        kind = "tool"
    strings:
        $ua = "User-Agent: gobuster" nocase
    condition:
        $ua or http_ua istartswith "gobuster"
}

rule ffuf : ffuf tool
{
    meta:
        description = "ffuf: User-Agent Fuzz Faster U Fool v<version>"
        family = "ffuf"
        kind = "tool"
    strings:
        $ua = "Fuzz Faster U Fool" nocase
    condition:
        $ua or http_ua icontains "fuzz faster u fool"
}

rule wfuzz : wfuzz tool
{
    meta:
        description = "wfuzz: User-Agent Wfuzz/<version>"
        family = "wfuzz"
        kind = "tool"
    strings:
        $ua = "User-Agent: Wfuzz/" nocase
    condition:
        $ua or http_ua icontains "wfuzz/"
}

rule whatweb : whatweb tool
{
    meta:
        description = "WhatWeb: User-Agent WhatWeb/<version>"
        family = "whatweb"
        kind = "tool"
    strings:
        $ua = "User-Agent: WhatWeb/" nocase
    condition:
        $ua or http_ua icontains "whatweb/"
}

rule wapiti : wapiti tool
{
    meta:
        description = "Wapiti: its 2.x User-Agent, the four headers 3.x's crawler sets (a Firefox 45 User-Agent asking for br over plain HTTP, Accept-Language: en-US alone), or the markers of its attack payloads"
        family = "wapiti"
        kind = "tool"
    strings:
        $ua = "User-Agent: Wapiti" nocase
        $md5 = "w4p1t1" nocase
        $host = "wapiti3.ovh" nocase
        $ff45 = "\nUser-Agent: Mozilla/5.0 (Windows NT 6.1; rv:45.0) Gecko/20100101 Firefox/45.0\r\n"
        $lang = "\nAccept-Language: en-US\r\n"
        $enc = "\nAccept-Encoding: gzip, deflate, br\r\n"
        $accept = "\nAccept: text/html,application/xhtml+xml,application/xml;q=0.9,image/webp,*/*;q=0.8\r\n"
    condition:
        $ua or $md5 or $host or ($ff45 and $lang and $enc and $accept) or
        http_target icontains "w4p1t1" or http_body icontains "w4p1t1" or
        http_target icontains "wapiti3.ovh" or http_body icontains "wapiti3.ovh"
}

rule dirb : dirb tool
{
    meta:
        description = "dirb: its NOT_FOUND calibration paths (randomfile1, frand2) with its fixed MSIE 6 User-Agent"
        family = "dirb"
        kind = "tool"
    strings:
        $p1 = "/randomfile1 HTTP/1."
        $p2 = "/frand2 HTTP/1."
        $ua = "User-Agent: Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)\r\n"
    condition:
        ($p1 or $p2) and $ua
}

rule nuclei : nuclei tool
{
    meta:
        description = "nuclei: its old User-Agent, or its out-of-band interaction hosts (oast.*, interact.sh)"
        family = "nuclei"
        kind = "tool"
    strings:
        $ua = "Nuclei - Open-source project" nocase
        $oast1 = ".oast.fun" nocase
        $oast2 = ".oast.pro" nocase
        $oast3 = ".oast.live" nocase
        $oast4 = ".oast.site" nocase
        $oast5 = ".oast.online" nocase
        $oast6 = ".oast.me" nocase
        $interact = ".interact.sh" nocase
    condition:
        any of them or http_log4j icontains ".oast." or http_target icontains ".oast."
}

rule nmap : nmap tool
{
    meta:
        description = "nmap: the NSE User-Agent, nmaplowercheck, and the -sV probes only nmap sends"
        family = "nmap"
        kind = "tool"
    strings:
        $nse = "Nmap Scripting Engine" nocase
        $lower = "/nmaplowercheck"
        $niceports = "GET /nice%20ports%2C/Tri%6Eity.txt%2ebak HTTP/1.0\r\n\r\n"
        $sip = "OPTIONS sip:nm SIP/2.0\r\n"
        $rdp = "Cookie: mstshash=nmap\r\n"
        $rtsp = "OPTIONS / RTSP/1.0\r\n\r\n"
        $distcc = "ARGV00000006nmap.c"
        $msf = "<methodName>nmap.probe</methodName>"
    condition:
        $nse or $lower or $niceports at 0 or $sip at 0 or $rdp or
        ($rtsp at 0 and filesize == 22) or $distcc or $msf
}

rule masscan : masscan tool
{
    meta:
        description = "masscan --banners (and its SSDP probe): User-Agent masscan/<version>"
        family = "masscan"
        kind = "tool"
    strings:
        $ua = "masscan/" nocase
    condition:
        $ua
}

rule zgrab : zgrab tool
{
    meta:
        description = "ZGrab/ZGrab2: User-Agent Mozilla/5.0 zgrab/0.x; the SSH module's client banner SSH-2.0-Go (Go's x/crypto/ssh default: medium confidence)"
        family = "zgrab"
        kind = "tool"
    strings:
        $ua = "zgrab/" nocase
        $ssh = "SSH-2.0-Go\r\n"
    condition:
        $ua or $ssh at 0
}

rule mglndd : mglndd tool
{
    meta:
        description = "MGLNDD_<ip>_<port>: a scanner's bare marker line, not HTTP"
        family = "mglndd"
        kind = "tool"
    strings:
        $m = "MGLNDD_"
    condition:
        $m at 0
}
