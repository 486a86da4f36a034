"""The option table is the one list of serve's and inetd's options: the man
pages, --help and the INI file must all agree with it. "flypaper options"
prints the table (name, section, commands, metavar, help)."""
import os
import re
import subprocess

from conftest import FLYPAPER, ROOT

CLI_ONLY = {"config", "help"}       # -c and -h: not rows, not INI keys


def table():
    r = subprocess.run([FLYPAPER, "options"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    rows = {}
    for line in r.stdout.splitlines():
        name, section, commands, metavar, help_ = line.split("\t")
        rows[name] = {"section": section, "commands": set(commands.split(",")),
                      "metavar": metavar, "help": help_}
    assert len(rows) > 20, rows
    return rows


def man(name):
    with open(os.path.join(ROOT, "man", name)) as f:
        return f.read()


def options_section_items(text):
    """The long options the OPTIONS section of flypaper(8) describes, one
    per .TP item (the first --name on the line after .TP)."""
    part = text.split("\n.SH OPTIONS\n", 1)[1].split("\n.SH ", 1)[0]
    lines = part.splitlines()
    items = []
    for i, line in enumerate(lines[:-1]):
        if line == ".TP":
            m = re.search(r"\\-\\-((?:[a-z0-9]|\\-)+)", lines[i + 1])
            assert m, lines[i + 1]
            items.append(m.group(1).replace("\\-", "-"))
    return items


def test_every_option_is_in_both_man_pages_and_nothing_else_is():
    rows = table()
    documented = options_section_items(man("flypaper.8"))
    assert len(documented) == len(set(documented)), documented
    assert set(documented) - CLI_ONLY == set(rows), (
        "in flypaper(8) only: %s; in the table only: %s" %
        (sorted(set(documented) - CLI_ONLY - set(rows)),
         sorted(set(rows) - set(documented))))
    conf = man("flypaper.conf.5")
    listed = conf.split("\n.nf\n", 1)[1].split("\n.fi\n", 1)[0]
    keys = {k.strip().replace("\\-", "-") for k in listed.replace("\n", " ").split(",")}
    in_file = {n for n, r in rows.items() if r["section"] == "flypaper"}
    assert keys == in_file, (sorted(keys - in_file), sorted(in_file - keys))


def test_help_lists_each_command_its_own_rows():
    rows = table()
    for command in ("serve", "inetd"):
        r = subprocess.run([FLYPAPER, command, "--help"], capture_output=True,
                           text=True, timeout=20)
        assert r.returncode == 0
        shown = set(re.findall(r"^      --([a-z0-9-]+)", r.stdout, re.M))
        assert shown == {n for n, row in rows.items() if command in row["commands"]}, command
        for name in shown:
            meta = rows[name]["metavar"]
            assert re.search(rf"--{name}{' ' + re.escape(meta) if meta != '-' else ''}\s+"
                             + re.escape(rows[name]["help"]), r.stdout), name


def test_every_row_is_a_key_of_the_file_and_unknown_keys_are_not(tmp_path):
    """Each row's name is accepted as a key of [flypaper]: an empty value
    is either taken or refused by that option's own check, never as an
    unknown option."""
    rows = table()
    for name, row in rows.items():
        conf = tmp_path / f"{name}.conf"
        conf.write_text(f"[flypaper]\n{name} =\n")
        r = subprocess.run([FLYPAPER, "serve", "-c", str(conf), "--check"],
                           capture_output=True, text=True, timeout=20)
        assert "unknown option" not in r.stderr, (name, r.stderr)
        assert r.returncode == 0 or f"{conf}:2: " in r.stderr, (name, r.stderr)
    conf = tmp_path / "bogus.conf"
    conf.write_text("[flypaper]\nno-such-option = 1\n")
    r = subprocess.run([FLYPAPER, "serve", "-c", str(conf), "--check"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 2 and "unknown option 'no-such-option'" in r.stderr


def test_usage_lists_every_command_and_dispatches_each():
    r = subprocess.run([FLYPAPER, "help"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 0
    commands = re.findall(r"^  ([a-z]+) +\S", r.stdout, re.M)
    assert commands == ["serve", "inetd", "yield", "sim", "report", "rescan", "collect",
                        "classify", "pcap", "version"], commands
    for command in commands:
        r = subprocess.run([FLYPAPER, command, "--help"], capture_output=True,
                           text=True, timeout=20)
        assert r.returncode == 0 and "unknown command" not in r.stderr, command
        assert r.stdout.startswith(f"usage: flypaper {command}") or command == "version", \
            (command, r.stdout)


def test_sim_scenarios_table_matches_the_man_page_and_the_readme():
    r = subprocess.run([FLYPAPER, "sim", "--help"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 0
    table_names = re.findall(r"^  ([a-z0-9-]+) +\S", r.stdout.split("scenarios:\n", 1)[1], re.M)
    assert len(table_names) >= 18, table_names
    page = man("flypaper.8").split("replays a known peer over real TCP: ", 1)[1]
    page = page.split("\n.RB", 1)[0].replace("\\-", "-")
    assert [n.strip() for n in page.replace("\n", " ").split(",")] == table_names
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read().split("how known\npeers behave:", 1)[1].split("Options:", 1)[0]
    assert re.findall(r"`([a-z0-9-]+)`", readme) == table_names
