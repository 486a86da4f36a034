/* flypaper rules: the 2001 IIS worms. A worm family needs the worm's whole
 * request, never a path alone: scanners (Nikto, nmap's http-enum) probe
 * the same paths, and a wrong worm label is worse than none. Strings come
 * from the public analyses summarised in the project's field notes.
 * Conventions (docs/DESIGN.md, "Families"): meta family and kind name the
 * family; the first tag repeats it for older readers of matches.tags. */

rule codered1 : codered worm
{
    meta:
        description = "Code Red I/v2: GET /default.ida? + exactly 224 N + the %u tail, text/xml, its body"
        family = "codered"
        kind = "worm"
    strings:
        $ida = "GET /default.ida?NNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNN%u9090%u6858%ucbd3%u7801"
        $tail = "%u9090%u9090%u8190%u00c3%u0003%u8b00%u531b%u53ff%u0078%u0000%u00=a HTTP/1.0\r\n"
        $ctype = "\r\nContent-type: text/xml\r\n"
        $len = "\r\nContent-length: 3569 \r\n"
    condition:
        $ida at 0 and $tail and $ctype and ($len or filesize >= 3000)
}

rule codered2 : codered worm
{
    meta:
        description = "Code Red II: GET /default.ida? + exactly 224 X + the %u tail, text/xml, its body"
        family = "codered"
        kind = "worm"
    strings:
        $ida = "GET /default.ida?XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX%u9090%u6858%ucbd3%u7801"
        $tail = "%u9090%u9090%u8190%u00c3%u0003%u8b00%u531b%u53ff%u0078%u0000%u00=a HTTP/1.0\r\n"
        $ctype = "\r\nContent-type: text/xml\r\n"
        $len = "\r\nContent-length: 3379 \r\n"
    condition:
        $ida at 0 and $tail and $ctype and ($len or filesize >= 3000)
}

/* Nimda sends each request alone on its connection, exactly
 * "GET <path> HTTP/1.0", with no User-Agent, Referer, Cookie or Accept
 * headers: a request of one of its sixteen paths in any other shape
 * (HTTP/1.1, a User-Agent, a second request) is someone else's. */
rule nimda_scan : nimda worm
{
    meta:
        description = "Nimda, stage 1: one of its 16 root.exe/cmd.exe requests, in the worm's shape"
        family = "nimda"
        kind = "worm"
        stage = "scan"
    strings:
        $p01 = "GET /scripts/root.exe?/c+dir HTTP/1.0\r\n"
        $p02 = "GET /MSADC/root.exe?/c+dir HTTP/1.0\r\n"
        $p03 = "GET /c/winnt/system32/cmd.exe?/c+dir HTTP/1.0\r\n"
        $p04 = "GET /d/winnt/system32/cmd.exe?/c+dir HTTP/1.0\r\n"
        $p05 = "GET /scripts/..%255c../winnt/system32/cmd.exe?/c+dir HTTP/1.0\r\n"
        $p06 = "GET /_vti_bin/..%255c../..%255c../..%255c../winnt/system32/cmd.exe?/c+dir HTTP/1.0\r\n"
        $p07 = "GET /_mem_bin/..%255c../..%255c../..%255c../winnt/system32/cmd.exe?/c+dir HTTP/1.0\r\n"
        $p08 = "GET /msadc/..%255c../..%255c../..%255c/..%c1%1c../..%c1%1c../..%c1%1c../winnt/system32/cmd.exe?/c+dir HTTP/1.0\r\n"
        $p09 = "GET /scripts/..%c1%1c../winnt/system32/cmd.exe?/c+dir HTTP/1.0\r\n"
        $p10 = "GET /scripts/..%c0%2f../winnt/system32/cmd.exe?/c+dir HTTP/1.0\r\n"
        $p11 = "GET /scripts/..%c0%af../winnt/system32/cmd.exe?/c+dir HTTP/1.0\r\n"
        $p12 = "GET /scripts/..%c1%9c../winnt/system32/cmd.exe?/c+dir HTTP/1.0\r\n"
        $p13 = "GET /scripts/..%%35%63../winnt/system32/cmd.exe?/c+dir HTTP/1.0\r\n"
        $p14 = "GET /scripts/..%%35c../winnt/system32/cmd.exe?/c+dir HTTP/1.0\r\n"
        $p15 = "GET /scripts/..%25%35%63../winnt/system32/cmd.exe?/c+dir HTTP/1.0\r\n"
        $p16 = "GET /scripts/..%252f../winnt/system32/cmd.exe?/c+dir HTTP/1.0\r\n"
        $ua = "\nUser-Agent:" nocase
        $ref = "\nReferer:" nocase
        $cookie = "\nCookie:" nocase
        $accept = "\nAccept" nocase
        $again = "\r\n\r\nGET "
    condition:
        for any of ($p*) : ($ at 0) and filesize <= 512 and
        not ($ua or $ref or $cookie or $accept or $again) and http_nrequests <= 1
}

rule nimda_tftp : nimda worm
{
    meta:
        description = "Nimda, stage 2: tftp fetch of Admin.dll after a 200, in the worm's shape"
        family = "nimda"
        kind = "worm"
        stage = "tftp"
    strings:
        $get = "GET /scripts/root.exe?/c+tftp"
        $dll = " GET Admin.dll Admin.dll HTTP/1.0\r\n"
        $ua = "\nUser-Agent:" nocase
        $ref = "\nReferer:" nocase
    condition:
        $get at 0 and $dll and filesize <= 512 and not ($ua or $ref)
}

rule nimda_admin : nimda worm
{
    meta:
        description = "Nimda, stage 3: running the fetched Admin.dll, in the worm's shape"
        family = "nimda"
        kind = "worm"
        stage = "admin"
    strings:
        $get = "GET /scripts/Admin.dll HTTP/1.0\r\n"
        $ua = "\nUser-Agent:" nocase
        $ref = "\nReferer:" nocase
        $again = "\r\n\r\nGET "
    condition:
        $get at 0 and filesize <= 512 and not ($ua or $ref or $again)
}
