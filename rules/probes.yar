/* flypaper rules: probes any client can make, named after what they look
 * for. Lowest in the precedence: whoever sent one, when known, wins. */

rule secrets_probe : secrets probe
{
    meta:
        description = "probes for secrets: .env files, .git/config and HEAD, cloud credentials"
        family = "secrets"
        kind = "probe"
    strings:
        $env = "/.env HTTP/1."
        $envx = /\/\.env\.[a-z]{1,16} HTTP\/1\./
        $config = "/.git/config HTTP/1."
        $head = "/.git/HEAD HTTP/1."
        $aws = "/.aws/credentials HTTP/1."
    condition:
        any of them or http_path endswith "/.env" or http_path endswith "/.git/config" or
        http_path endswith "/.git/HEAD" or http_path endswith "/.aws/credentials"
}
