/* flypaper rules: the 2001 IIS worms. The first tag of a rule is the family
 * flypaper reports; the rule name says which variant or stage. Strings come
 * from the public analyses summarised in the project's field notes. */

rule codered1 : codered worm
{
    meta:
        description = "Code Red I/v2: GET /default.ida? with a run of N"
    strings:
        $ida = "GET /default.ida?NNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNN"
        $tail = "%u9090%u6858%ucbd3%u7801%u9090%u6858%ucbd3%u7801"
    condition:
        $ida at 0 and $tail
}

rule codered2 : codered worm
{
    meta:
        description = "Code Red II: GET /default.ida? with a run of X"
    strings:
        $ida = "GET /default.ida?XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
        $tail = "%u9090%u6858%ucbd3%u7801%u9090%u6858%ucbd3%u7801"
    condition:
        $ida at 0 and $tail
}

rule nimda_scan : nimda worm
{
    meta:
        description = "Nimda, stage 1: the 16 root.exe/cmd.exe directory probes"
        stage = "scan"
    strings:
        $root = "/root.exe?/c+dir"
        $cmd = /\/cmd\.exe\?\/c\+dir/
        $t1 = "..%255c.."
        $t2 = "..%c1%1c.."
        $t3 = "..%c0%2f.."
        $t4 = "..%c0%af.."
        $t5 = "..%c1%9c.."
        $t6 = "..%%35%63.."
        $t7 = "..%%35c.."
        $t8 = "..%25%35%63.."
        $t9 = "..%252f.."
        $winnt = /\/[cd]\/winnt\/system32\/cmd\.exe/
    condition:
        $root or ($cmd and (any of ($t*) or $winnt))
}

rule nimda_tftp : nimda worm
{
    meta:
        description = "Nimda, stage 2: tftp fetch of Admin.dll after a 200"
        stage = "tftp"
    strings:
        $tftp = /\/c\+tftp( |%20|\+)-i/
        $dll = "Admin.dll"
    condition:
        $tftp and $dll
}

rule nimda_admin : nimda worm
{
    meta:
        description = "Nimda, stage 3: running the fetched Admin.dll"
        stage = "admin"
    strings:
        $get = /GET \/scripts\/Admin\.dll /
    condition:
        $get at 0
}
