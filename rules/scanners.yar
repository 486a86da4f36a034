/* flypaper rules: scanners and crawlers that say who they are. */

rule masscan : masscan scanner
{
    strings:
        $ua = "User-Agent: masscan/"
    condition:
        $ua
}

rule zgrab : zgrab scanner
{
    strings:
        $ua = /User-Agent: [^\r\n]*zgrab\//
    condition:
        $ua
}

rule nmap_nse : nmap scanner
{
    strings:
        $ua = "Nmap Scripting Engine"
        $probe = "/nmaplowercheck"
    condition:
        any of them
}

rule research_scanner : research scanner
{
    meta:
        description = "benign research scanners that announce themselves"
    strings:
        $censys = "CensysInspect/"
        $expanse = "Expanse, a Palo Alto Networks company"
        $im = "InternetMeasurement/"
        $leakix = "l9explore/"
    condition:
        any of them
}

rule spider : spider crawler
{
    meta:
        description = "a crawler asking for robots.txt, or naming itself a bot"
    strings:
        $robots = "GET /robots.txt HTTP/1."
        $bot = /User-Agent: [^\r\n]*\(compatible; [^\r\n;]*[Bb]ot\/[0-9]/
    condition:
        $robots at 0 or $bot
}
