/* flypaper rules: botnet loaders (Mirai and its descendants: Mozi,
 * Gafgyt), which try an exploit only to fetch and run their binary. */

rule mozi_netgear : mirai botnet
{
    meta:
        description = "Mirai/Mozi: Netgear DGN setup.cgi command injection"
        family = "mirai"
        kind = "botnet"
    strings:
        $a = "/setup.cgi?next_file=netgear.cfg"
        $b = "todo=syscmd"
        $c = "cmd="
    condition:
        all of them
}

rule gpon_rce : mirai botnet
{
    meta:
        description = "Mirai/Mozi: GPON diag_Form command injection"
        family = "mirai"
        kind = "botnet"
    strings:
        $a = "/GponForm/diag_Form?images/"
    condition:
        $a
}

rule jaws_dvr : mirai botnet
{
    meta:
        description = "Mirai: JAWS DVR /shell? running a loader (cd /tmp, wget, tftp, busybox, killall...)"
        family = "mirai"
        kind = "botnet"
    strings:
        $c1 = "/shell?cd+/tmp"
        $c2 = "/shell?cd%20/tmp"
        $c3 = "/shell?cd /tmp"
        $c4 = "/shell?killall"
        $c5 = "/shell?wget"
        $c6 = "/shell?busybox"
        $c7 = "/shell?curl"
        $c8 = "/shell?tftp"
        $c9 = "/shell?chmod"
        $c10 = "/shell?rm+-rf"
    condition:
        any of ($c*) or
        (http_path endswith "/shell" and
         (http_target contains "cd /tmp" or http_target contains "wget " or
          http_target contains "tftp " or http_target contains "busybox" or
          http_target contains "killall" or http_target contains "chmod 777" or
          http_target contains "sh /tmp/" or http_target contains "curl "))
}

rule mirai_loader : mirai botnet
{
    meta:
        description = "Mirai/Mozi loaders: their User-Agent with a download, or the Mozi binary names"
        family = "mirai"
        kind = "botnet"
    strings:
        $hello = "\nUser-Agent: Hello, world" nocase
        $wget = "wget" nocase
        $tftp = "tftp" nocase
        $busybox = "busybox" nocase
        $mozi_m = "/Mozi.m"
        $mozi_a = "/Mozi.a"
    condition:
        ($hello and ($wget or $tftp or $busybox)) or $mozi_m or $mozi_a
}

rule mirai_dropper : mirai botnet
{
    meta:
        description = "Mirai-family droppers in any exploit: busybox fetching a binary, or a fetch of an architecture build (.mips, .arm7, .x86...) into /tmp"
        family = "mirai"
        kind = "botnet"
    strings:
        $bb_wget = "/bin/busybox wget" nocase
        $bb_tftp = "/bin/busybox tftp" nocase
        $bb_wget2 = "/bin/busybox+wget" nocase
        $bb_wget3 = "/bin/busybox%20wget" nocase
        $tmp = "/tmp" nocase
        $a1 = ".mips" nocase
        $a2 = ".mpsl" nocase
        $a3 = ".arm7" nocase
        $a4 = ".arm5" nocase
        $a5 = ".arm6" nocase
        $a6 = ".x86" nocase
        $a7 = ".ppc" nocase
        $a8 = ".m68k" nocase
        $a9 = ".sh4" nocase
        $fetch1 = "wget" nocase
        $fetch2 = "tftp" nocase
        $fetch3 = "curl" nocase
    condition:
        any of ($bb*) or ($tmp and any of ($a*) and any of ($fetch*))
}
