/* flypaper rules: clients that say who they are and why: research
 * scanners (family "research") and crawlers naming themselves ("spider").
 * A crawler's name is cheap to claim, so an exploit it carries wins
 * (docs/DESIGN.md, "Families"); asking for /robots.txt alone names no one. */

rule research_scanner : research scanner
{
    meta:
        description = "research scanners that announce themselves in their User-Agent"
        family = "research"
        kind = "research"
    strings:
        $censys = "CensysInspect/"
        $expanse = "Expanse, a Palo Alto Networks company"
        $im = "InternetMeasurement/"
        $leakix = "l9explore/"
        $leakix2 = "l9tcpid/"
        $odin = "; Odin; https://docs.getodin.com" nocase
        $modat = "ModatScanner" nocase
        $snoopsec = "SnoopSec" nocase
        $onyphe = "ONYPHE/" nocase
        $nsr = "NetSystemsResearch" nocase
        $netcraft = "NetcraftSurveyAgent/"
    condition:
        any of them
}

rule spider : spider crawler
{
    meta:
        description = "a crawler naming itself: a known bot's name, or (compatible; SomeBot/1.0"
        family = "spider"
        kind = "crawler"
    strings:
        $google = "Googlebot/"
        $bing = "bingbot/"
        $yandex = "YandexBot/"
        $baidu = "Baiduspider"
        $ddg = "DuckDuckBot"
        $apple = "Applebot/"
        $petal = "PetalBot"
        $dot = "DotBot/"
        $gpt = "GPTBot/"
        $bytespider = "Bytespider"
        $fb = "facebookexternalhit/"
        $compatible = /\(compatible; ?[A-Za-z0-9._-]{1,32}([Bb]ot|[Ss]pider|[Cc]rawler)\/v?[0-9]/
    condition:
        any of them or
        http_ua matches /\(compatible; ?[A-Za-z0-9._ -]{1,40}([Bb]ot|[Ss]pider|[Cc]rawler)\/v?[0-9]/
}
