# Writes ../patterns_openssh.test and ../patterns_hdfs.test: the `pattern` results a person
# reading the Loghub samples would list, with counts computed here by plain Python regexes
# over the raw files (independent of the engine).
#
# Each event kind below is written by hand: the pattern as `@pattern` should show it (`<*>`
# for a dynamic token; numbered `<Token-1>`, `<Token-2>`, ... left to right when printed) and
# a regex for the lines it covers. Every line must match exactly one kind, so the counts add
# up to the file. `@ratio` is the count over the lines counted, printed as the engine prints
# numbers (15 significant digits, then the shortest form); `@severityLabel` is written by
# hand from the level word in each line. Rows: most frequent first, then by pattern.
#
#     python3 crates/engine/tests/golden/data/expect_patterns.py
import os
import re

here = os.path.dirname(os.path.abspath(__file__))
loghub = None
d = here
while d != "/":
    cand = os.path.join(d, "shared", "datasets", "loghub")
    if os.path.isdir(cand):
        loghub = cand
        break
    d = os.path.dirname(d)
assert loghub, "shared/datasets/loghub not found above this script"


def lines(name):
    # As Rust's str::lines: split at \n, dropping a \r before it.
    parts = open(os.path.join(loghub, name), encoding="utf-8").read().split("\n")
    if parts and parts[-1] == "":
        parts.pop()
    return [l[:-1] if l.endswith("\r") else l for l in parts]


IP = r"\d+\.\d+\.\d+\.\d+"

# OpenSSH: (pattern of the text after "sshd[pid]: ", regex of that text, severity).
SSH = [
    ("Received disconnect from <*>: <*>: Bye Bye [preauth]", rf"Received disconnect from {IP}: \d+: Bye Bye \[preauth\]", "Unknown"),
    ("pam_unix(sshd:auth): authentication failure; logname= uid=<*> euid=<*> tty=ssh ruser= rhost=<*> user=<*>", r"pam_unix\(sshd:auth\): authentication failure; logname= uid=\d+ euid=\d+ tty=ssh ruser= rhost=\S+ +user=\S+", "Unknown"),
    ("pam_unix(sshd:auth): authentication failure; logname= uid=<*> euid=<*> tty=ssh ruser= rhost=<*> ", r"pam_unix\(sshd:auth\): authentication failure; logname= uid=\d+ euid=\d+ tty=ssh ruser= rhost=\S+ ", "Unknown"),
    ("Failed password for <*> from <*> port <*> ssh2", rf"Failed password for (?!invalid user )\S+ from {IP} port \d+ ssh2", "Unknown"),
    ("Failed password for invalid user <*> from <*> port <*> ssh2", rf"Failed password for invalid user +\S+ from {IP} port \d+ ssh2", "Unknown"),
    ("Failed none for invalid user <*> from <*> port <*> ssh2", rf"Failed none for invalid user +\S+ from {IP} port \d+ ssh2", "Unknown"),
    ("Accepted password for fztu from <*> port <*> ssh2", rf"Accepted password for fztu from {IP} port \d+ ssh2", "Unknown"),
    ("pam_unix(sshd:auth): check pass; user unknown", r"pam_unix\(sshd:auth\): check pass; user unknown", "Unknown"),
    ("Invalid user <*> from <*>", rf"Invalid user +\S+ from {IP}", "Unknown"),
    ("input_userauth_request: invalid user <*> [preauth]", r"input_userauth_request: invalid user +\S+ \[preauth\]", "Unknown"),
    ("reverse mapping checking getaddrinfo for <*> [<*>] failed - POSSIBLE BREAK-IN ATTEMPT!", rf"reverse mapping checking getaddrinfo for \S+ \[{IP}\] failed - POSSIBLE BREAK-IN ATTEMPT!", "Unknown"),
    ("error: Received disconnect from <*>: <*>: No more user authentication methods available. [preauth]", rf"error: Received disconnect from {IP}: \d+: No more user authentication methods available\. \[preauth\]", "Error"),
    ("error: Received disconnect from <*>: <*>: com.jcraft.jsch.JSchException: Auth fail [preauth]", rf"error: Received disconnect from {IP}: \d+: com\.jcraft\.jsch\.JSchException: Auth fail \[preauth\]", "Error"),
    ("Received disconnect from <*>: <*>: Closed due to user request. [preauth]", rf"Received disconnect from {IP}: \d+: Closed due to user request\. \[preauth\]", "Unknown"),
    ("Received disconnect from <*>: <*>: disconnected by user", rf"Received disconnect from {IP}: \d+: disconnected by user", "Unknown"),
    ("Connection closed by <*> [preauth]", rf"Connection closed by {IP} \[preauth\]", "Unknown"),
    ("Did not receive identification string from <*>", rf"Did not receive identification string from {IP}", "Unknown"),
    ("PAM service(sshd) ignoring max retries; <*> > <*>", r"PAM service\(sshd\) ignoring max retries; \d+ > \d+", "Unknown"),
    ("PAM <*> more authentication failures; logname= uid=<*> euid=<*> tty=ssh ruser= rhost=<*> ", r"PAM \d+ more authentication failures; logname= uid=\d+ euid=\d+ tty=ssh ruser= rhost=\S+ ", "Unknown"),
    ("PAM <*> more authentication failures; logname= uid=<*> euid=<*> tty=ssh ruser= rhost=<*> user=root", r"PAM \d+ more authentication failures; logname= uid=\d+ euid=\d+ tty=ssh ruser= rhost=\S+ +user=root", "Unknown"),
    ("PAM <*> more authentication failure; logname= uid=<*> euid=<*> tty=ssh ruser= rhost=<*> ", r"PAM \d+ more authentication failure; logname= uid=\d+ euid=\d+ tty=ssh ruser= rhost=\S+ ", "Unknown"),
    ("Disconnecting: Too many authentication failures for <*> [preauth]", r"Disconnecting: Too many authentication failures for \S+ \[preauth\]", "Unknown"),
    ("message repeated <*> times: [ Failed password for root from <*> port <*> ssh2]", rf"message repeated \d+ times: \[ Failed password for root from {IP} port \d+ ssh2\]", "Unknown"),
    ("pam_unix(sshd:session): session opened for user fztu by (uid=<*>)", r"pam_unix\(sshd:session\): session opened for user fztu by \(uid=\d+\)", "Unknown"),
    ("pam_unix(sshd:session): session closed for user fztu", r"pam_unix\(sshd:session\): session closed for user fztu", "Unknown"),
    ("fatal: Write failed: Connection reset by peer [preauth]", r"fatal: Write failed: Connection reset by peer \[preauth\]", "Error"),
]
SSH_HEAD = r"Dec +\d+ \d\d:\d\d:\d\d LabSZ sshd\[\d+\]: "

# HDFS: (level, component, pattern of the text after "component: ", regex of that text).
HDFS = [
    ("INFO", "dfs.DataNode$PacketResponder", "PacketResponder <*> for block <*> terminating", r"PacketResponder \d+ for block blk_-?\d+ terminating"),
    ("INFO", "dfs.DataNode$PacketResponder", "Received block <*> of size <*> from <*>", rf"Received block blk_-?\d+ of size \d+ from /{IP}"),
    ("INFO", "dfs.DataNode$DataXceiver", "Receiving block <*> src: <*> dest: <*>", rf"Receiving block blk_-?\d+ src: /{IP}:\d+ dest: /{IP}:\d+"),
    ("INFO", "dfs.DataNode$DataXceiver", "Received block <*> src: <*> dest: <*> of size <*>", rf"Received block blk_-?\d+ src: /{IP}:\d+ dest: /{IP}:\d+ of size \d+"),
    ("INFO", "dfs.DataNode$DataXceiver", "<*> Served block <*> to <*>", rf"{IP}:\d+ Served block blk_-?\d+ to /{IP}"),
    ("WARN", "dfs.DataNode$DataXceiver", "<*>:Got exception while serving <*> to <*>:", rf"{IP}:\d+:Got exception while serving blk_-?\d+ to /{IP}:"),
    ("INFO", "dfs.DataNode", "<*> Starting thread to transfer block <*> to <*>", rf"{IP}:\d+ Starting thread to transfer block blk_-?\d+ to {IP}:\d+"),
    ("INFO", "dfs.FSNamesystem", "BLOCK* NameSystem.addStoredBlock: blockMap updated: <*> is added to <*> size <*>", rf"BLOCK\* NameSystem\.addStoredBlock: blockMap updated: {IP}:\d+ is added to blk_-?\d+ size \d+"),
    ("INFO", "dfs.FSNamesystem", "BLOCK* NameSystem.delete: <*> is added to invalidSet of <*>", rf"BLOCK\* NameSystem\.delete: blk_-?\d+ is added to invalidSet of {IP}:\d+"),
    ("INFO", "dfs.FSNamesystem", "BLOCK* NameSystem.allocateBlock: <*>. <*>", r"BLOCK\* NameSystem\.allocateBlock: /user/root/\S+/part-\d+\. blk_-?\d+"),
    ("INFO", "dfs.FSNamesystem", "BLOCK* ask <*> to delete <*>", rf"BLOCK\* ask {IP}:\d+ to delete ( +blk_-?\d+)+ *"),
    ("INFO", "dfs.FSNamesystem", "BLOCK* ask <*> to replicate <*> to datanode(s) <*>", rf"BLOCK\* ask {IP}:\d+ to replicate blk_-?\d+ to datanode\(s\) {IP}:\d+"),
    ("INFO", "dfs.FSDataset", "Deleting block <*> file <*>", r"Deleting block blk_-?\d+ file /mnt/hadoop/dfs/data/current/\S*blk_-?\d+"),
    ("INFO", "dfs.DataBlockScanner", "Verification succeeded for <*>", r"Verification succeeded for blk_-?\d+"),
]
HDFS_HEAD = r"\d{6} \d{6} \d+ "
LABEL = {"INFO": "Info", "WARN": "Warning"}


def number(x):
    r = float("%.14e" % x)
    return str(int(r)) if r == int(r) else repr(r)


def numbered(p):
    parts = p.split("<*>")
    return "".join(part + ("<Token-%d>" % (i + 1) if i + 1 < len(parts) else "") for i, part in enumerate(parts))


def count(raw, kinds):
    """kinds: list of (pattern, full-line regex, severity). Counts each line's one kind."""
    counts = {}
    for line in raw:
        hits = [k for k in kinds if re.fullmatch(k[1], line)]
        assert len(hits) == 1, (line, [h[0] for h in hits])
        counts[hits[0][0]] = counts.get(hits[0][0], 0) + 1
    assert sum(counts.values()) == len(raw)
    sev = {k[0]: k[2] for k in kinds}
    rows = sorted(counts.items(), key=lambda kv: (-kv[1], numbered(kv[0])))
    total = len(raw)
    return [" | ".join([numbered(p), number(n / total), str(n), sev[p]]) for p, n in rows]


HEADER = "@pattern | @ratio | @sampleCount | @severityLabel"


def case(out, query, rows):
    out += ["query", query, "----", HEADER] + rows + [""]


ssh = lines("OpenSSH_2k.log")
out = [
    "# Generated by data/expect_patterns.py from the Loghub OpenSSH sample; do not edit by hand.",
    "# Patterns written by hand in the script; counts by its regexes over the raw file.",
    "data: openssh",
    "",
]
# Whole lines: the syslog prefix's day and time are one token, the pid another.
full = [("Dec <*> LabSZ sshd[<*>]: " + p, SSH_HEAD + r, s) for p, r, s in SSH]
case(out, "pattern @message", count(ssh, full))
# The same, counted by stored templates after a filter the rows go through.
fails = [l for l in ssh if "Failed" in l]
case(out, 'filter @message like "Failed" | pattern @message', count(fails, [k for k in full if "Failed" in k[0]]))
# The text after the prefix: a parsed field, split into templates at query time.
texts = [re.sub("^" + SSH_HEAD, "", l) for l in ssh]
case(out, 'parse @message "* sshd[*]: *" as head, pid, text | pattern text', count(texts, SSH))
open(os.path.join(here, "..", "patterns_openssh.test"), "w").write("\n".join(out))

hdfs = lines("HDFS_2k.log")
out = [
    "# Generated by data/expect_patterns.py from the Loghub HDFS sample; do not edit by hand.",
    "# Patterns written by hand in the script; counts by its regexes over the raw file.",
    "data: loghub",
    "",
]
kinds = [("<*> %s %s: %s" % (lvl, comp, p), HDFS_HEAD + lvl + " " + re.escape(comp) + ": " + r, LABEL[lvl]) for lvl, comp, p, r in HDFS]
case(out, 'filter @logStream = "HDFS" | pattern @message', count(hdfs, kinds))
top = count(hdfs, kinds)[:3]
case(out, 'filter @logStream = "HDFS" | pattern @message | sort @sampleCount desc | limit 3', top)
open(os.path.join(here, "..", "patterns_hdfs.test"), "w").write("\n".join(out))
