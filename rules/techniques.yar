/* flypaper rules: what a request tries, whoever sent it. Each rule names
 * one technique in `meta: technique` (sqli, xss, rce, lfi, rfi,
 * php-injection, java-deserialization, jndi, shellshock, path-traversal,
 * or a CVE as cve-YYYY-N); classify joins the techniques of the rules
 * that matched into the session's tags. They carry no family, and a rule
 * with a technique and no family is a tag, not a match: it is not in the
 * matches table, `rules` or `families`.
 *
 * They match the decoded http_* variables (see README) with
 * contains/icontains, which cost one pass over a field of at most 4 KiB,
 * and the raw payload only with literals: no unbounded regex repeat. A
 * technique tag says what was tried, not that it would have worked. */

/* ---- techniques ---- */

rule technique_sqli
{
    meta:
        technique = "sqli"
    condition:
        http_target icontains "union select" or http_target icontains "union all select" or
        http_target icontains "union/**/select" or http_target icontains "' or '1'='1" or
        http_target icontains "' or 1=1" or http_target icontains "\" or 1=1" or
        http_target icontains " or 1=1--" or http_target icontains "' and '1'='1" or
        http_target icontains "sleep(" or http_target icontains "benchmark(" or
        http_target icontains "waitfor delay" or http_target icontains "information_schema" or
        http_target icontains "concat(0x" or http_target icontains "extractvalue(" or
        http_target icontains "updatexml(" or http_target icontains "@@version" or
        http_target icontains "pg_sleep" or http_target icontains "order by 1--" or
        http_body icontains "union select" or http_body icontains "union all select" or
        http_body icontains "' or '1'='1" or http_body icontains "' or 1=1" or
        http_body icontains "sleep(" or http_body icontains "waitfor delay" or
        http_body icontains "information_schema" or http_body icontains "extractvalue(" or
        http_headers icontains "union select" or http_headers icontains "' or '1'='1" or
        http_headers icontains "waitfor delay" or http_headers icontains "information_schema"
}

rule technique_xss
{
    meta:
        technique = "xss"
    condition:
        http_target icontains "<script" or http_target icontains "javascript:" or
        http_target icontains "onerror=" or http_target icontains "onload=" or
        http_target icontains "<svg" or http_target icontains "<iframe" or
        http_target icontains "alert(" or http_target icontains "document.cookie" or
        http_target icontains "onmouseover=" or
        http_body icontains "<script" or http_body icontains "onerror=" or
        http_body icontains "javascript:" or http_body icontains "alert(" or
        http_headers icontains "<script" or http_headers icontains "onerror=" or
        http_headers icontains "alert("
}

/* A shell command: a metacharacter before a command a dropper runs, or
 * the command's telltale arguments. */
rule technique_rce
{
    meta:
        technique = "rce"
    condition:
        http_target contains ";wget " or http_target contains ";wget+" or
        http_target contains "wget http" or http_target contains "curl http" or
        http_target contains ";curl " or http_target contains "|sh " or http_target contains "|sh;" or
        http_target contains "|bash" or http_target contains ";sh " or
        http_target contains "$(" or http_target contains "`" or
        http_target contains "cd /tmp" or http_target contains "/bin/sh" or
        http_target contains "/bin/bash" or http_target contains "chmod 777" or
        http_target contains "chmod +x" or http_target contains "rm -rf" or
        http_target contains "busybox" or http_target contains "${IFS}" or
        http_target contains ";id;" or http_target contains ";uname" or
        http_target icontains "cmd.exe?/c" or http_target icontains "powershell" or
        http_target contains "nc -e " or
        http_body contains ";wget " or http_body contains "wget http" or
        http_body contains "curl http" or http_body contains "|sh " or http_body contains "|sh;" or
        http_body contains "$(" or http_body contains "cd /tmp" or
        http_body contains "/bin/sh" or http_body contains "chmod 777" or
        http_body contains "chmod +x" or http_body contains "busybox" or
        http_body contains "rm -rf" or http_body contains "${IFS}" or
        http_body contains "java.lang.Runtime" or http_body contains "ProcessBuilder" or
        http_headers contains "/bin/sh" or http_headers contains "/bin/bash" or
        http_headers contains "wget http" or http_headers contains "curl http" or
        http_headers contains "java.lang.Runtime" or
        http_log4j contains "/Command/Base64/" or http_log4j contains "/Command/"
}

/* Reading a local file: well-known files and PHP's stream wrappers. */
rule technique_lfi
{
    meta:
        technique = "lfi"
    condition:
        http_target contains "/etc/passwd" or http_target contains "/etc/shadow" or
        http_target contains "/proc/self/" or http_target icontains "win.ini" or
        http_target icontains "boot.ini" or http_target icontains "php://filter" or
        http_target icontains "WEB-INF/web.xml" or http_target icontains "file:///" or
        http_target contains "/etc/hosts" or
        http_body contains "/etc/passwd" or http_body icontains "php://filter" or
        http_body icontains "file:///"
}

/* A URL as a parameter's value: what PHP's include() would fetch. */
rule technique_rfi
{
    meta:
        technique = "rfi"
    condition:
        http_target matches /[?&][A-Za-z0-9_.\[\]-]{1,64}=(https?|ftps?):\/\/[^&]{1,200}\?$/ or
        http_target matches /[?&][A-Za-z0-9_.\[\]-]{1,64}=(https?|ftps?):\/\/[^&?]{1,200}\.(txt|php|jpg|gif)\??(&|$)/
}

rule technique_php_injection
{
    meta:
        technique = "php-injection"
    condition:
        http_target icontains "<?php" or http_target icontains "allow_url_include" or
        http_target icontains "auto_prepend_file" or http_target icontains "php://input" or
        http_target icontains "call_user_func_array" or http_target icontains "base64_decode(" or
        http_target icontains "shell_exec" or http_target icontains "passthru(" or
        http_target contains "system(" or http_target contains "eval(" or
        http_target icontains "file_put_contents(" or http_target icontains "phpinfo()" or
        http_body icontains "<?php" or http_body icontains "<?=" or
        http_body icontains "allow_url_include" or http_body icontains "auto_prepend_file" or
        http_body icontains "base64_decode(" or http_body icontains "shell_exec(" or
        http_body icontains "passthru(" or http_body icontains "file_put_contents(" or
        http_body contains "eval(" or http_body contains "system(" or
        http_headers icontains "<?php"
}

/* A Java serialised object: its magic bytes, raw, in hex or in base64. */
rule technique_java_deserialization
{
    meta:
        technique = "java-deserialization"
    strings:
        $b64 = "rO0AB"
        $hex = "aced0005" nocase
        $raw = { AC ED 00 05 }
    condition:
        any of them
}

/* A JNDI lookup, in a ${...} (resolved) or bare in any field. */
rule technique_jndi
{
    meta:
        technique = "jndi"
    condition:
        http_log4j icontains "jndi:" or
        http_method icontains "jndi:" or http_target icontains "jndi:ldap" or
        http_target icontains "jndi:rmi" or http_target icontains "jndi:dns" or
        http_headers icontains "jndi:ldap" or http_headers icontains "jndi:rmi" or
        http_headers icontains "jndi:dns" or http_headers icontains "jndi:iiop" or
        http_headers icontains "jndi:corba" or http_headers icontains "jndi:nis" or
        http_headers icontains "jndi:nds" or http_headers icontains "jndi:http" or
        http_body icontains "jndi:ldap" or http_body icontains "jndi:rmi" or
        http_body icontains "jndi:dns" or http_auth icontains "jndi:"
}

/* A JNDI lookup carrying the server's secrets out in its name. */
rule technique_jndi_exfil
{
    meta:
        technique = "jndi-exfil"
    condition:
        http_log4j icontains "jndi:" and
        (http_log4j icontains "${env:" or http_log4j icontains "${sys:" or
         http_log4j icontains "${java:" or http_log4j icontains "${hostname")
}

rule technique_shellshock
{
    meta:
        technique = "shellshock"
    strings:
        $fn = "() {"
    condition:
        $fn
}

/* ".." as a path segment after decoding: %2e%2e%2f, ..%c0%af, ..%255c
 * and the other spellings all arrive here as "../". */
rule technique_path_traversal
{
    meta:
        technique = "path-traversal"
    condition:
        http_path contains "/../" or http_path startswith "../" or
        http_path endswith "/.." or http_target contains "/../" or
        http_target contains "=../" or
        http_target contains "=..\\" or http_target contains "/..\\" or
        http_body contains "=../"
}

/* ---- CVEs ---- */

rule technique_cve_2021_44228
{
    meta:
        technique = "cve-2021-44228"
        description = "Log4Shell: a JNDI lookup in a ${...} log4j would resolve"
    condition:
        http_log4j icontains "jndi:"
}

rule technique_cve_2017_5638
{
    meta:
        technique = "cve-2017-5638"
        description = "Struts2 Jakarta: OGNL in the Content-Type"
    condition:
        http_headers icontains "_memberaccess" or http_headers contains "%{(#"
}

rule technique_cve_2017_9841
{
    meta:
        technique = "cve-2017-9841"
        description = "PHPUnit eval-stdin.php"
    condition:
        http_path icontains "/phpunit/src/Util/PHP/eval-stdin.php"
}

rule technique_cve_2018_20062
{
    meta:
        technique = "cve-2018-20062"
        description = "ThinkPHP 5 invokefunction"
    condition:
        http_target icontains "invokefunction" and http_target icontains "\\think\\"
}

rule technique_cve_2014_6271
{
    meta:
        technique = "cve-2014-6271"
        description = "Shellshock: a function definition in a header bash imports"
    condition:
        http_headers contains ": () {"
}

rule technique_cve_2020_14882
{
    meta:
        technique = "cve-2020-14882"
        description = "WebLogic console: the path check walked past with encoded dots"
    condition:
        http_path icontains "/console/" and http_path icontains "../console.portal"
}

rule technique_cve_2020_14883
{
    meta:
        technique = "cve-2020-14883"
        description = "WebLogic console: a class named in handle= runs code"
    condition:
        http_target icontains "console.portal" and
        (http_target contains "com.tangosol.coherence.mvel2.sh.ShellSession" or
         http_target contains "FileSystemXmlApplicationContext" or
         http_target contains "ClassPathXmlApplicationContext")
}

rule technique_cve_2017_10271
{
    meta:
        technique = "cve-2017-10271"
        description = "WebLogic wls-wsat XMLDecoder"
    condition:
        http_path icontains "/wls-wsat/" and http_body contains "java.beans"
}

rule technique_cve_2018_10561
{
    meta:
        technique = "cve-2018-10561"
        description = "GPON routers: authentication bypassed by images/ in the query"
    condition:
        http_target contains "/GponForm/" and http_target contains "?images/"
}

rule technique_cve_2017_17215
{
    meta:
        technique = "cve-2017-17215"
        description = "Huawei HG532 UPnP DeviceUpgrade"
    condition:
        http_path contains "/ctrlt/DeviceUpgrade_1"
}

rule technique_cve_2021_41773
{
    meta:
        technique = "cve-2021-41773"
        description = "Apache 2.4.49/50 path traversal (and 42013's double encoding)"
    condition:
        (http_path startswith "/cgi-bin/" or http_path startswith "/icons/") and
        http_path contains "/../"
}

rule technique_cve_2019_19781
{
    meta:
        technique = "cve-2019-19781"
        description = "Citrix ADC path traversal to /vpns/"
    condition:
        http_path contains "/../vpns/"
}

rule technique_cve_2018_13379
{
    meta:
        technique = "cve-2018-13379"
        description = "FortiOS SSL VPN fgt_lang file read"
    condition:
        http_path contains "/remote/fgt_lang" and http_target contains "sslvpn_websession"
}

rule technique_cve_2022_22965
{
    meta:
        technique = "cve-2022-22965"
        description = "Spring4Shell: the class loader through data binding"
    condition:
        http_target contains "class.module.classLoader" or
        http_body contains "class.module.classLoader"
}

rule technique_cve_2022_26134
{
    meta:
        technique = "cve-2022-26134"
        description = "Confluence: OGNL in the path"
    condition:
        http_path contains "${(#" or http_path contains "${@java.lang."
}

rule technique_cve_2018_7600
{
    meta:
        technique = "cve-2018-7600"
        description = "Drupalgeddon2: a render array callback in a form"
    condition:
        http_target contains "element_parents=" and
        (http_body contains "#post_render" or http_body contains "#lazy_builder" or
         http_target contains "#post_render")
}

rule technique_cve_2016_5385
{
    meta:
        technique = "cve-2016-5385"
        description = "httpoxy: a Proxy header CGI turns into HTTP_PROXY"
    condition:
        http_headers startswith "Proxy: " or http_headers icontains "\nproxy: "
}

rule technique_cve_2023_1389
{
    meta:
        technique = "cve-2023-1389"
        description = "TP-Link Archer AX21 locale country command injection"
    condition:
        http_target contains "/cgi-bin/luci/;stok=/locale" and http_target contains "country="
}
