#!/bin/sh
# The link check of the READMEs (make check): every relative link and every
# #anchor in README.md, etc/README.md and test/*/README.md must point at a
# file or folder that exists and, for an anchor, at a heading of the target
# Markdown file (GitHub's anchors: lower case, punctuation dropped, spaces as
# hyphens, -1, -2... for repeats). Links in code blocks and code spans are
# not links; http(s): and mailto: links are not followed (no network).
# Usage: links.sh [FILE.md...]  (default: the files above)
# Exit 0 all good, 1 a bad link (each printed as "bad link: FILE: TARGET: why").
set -u
cd "$(dirname "$0")/../.."

# The anchors of a Markdown file's headings, one per line.
anchors() {
    awk '
        /^[ ]*(```|~~~)/ { fence = !fence; next }
        fence { next }
        /^#+[ \t]/ {
            h = $0
            sub(/^#+[ \t]+/, "", h); sub(/[ \t]+#*[ \t]*$/, "", h)
            h = tolower(h)
            gsub(/[^a-z0-9 _-]/, "", h)
            gsub(/ /, "-", h)
            n = seen[h]++
            print (n ? h "-" n : h)
        }' "$1"
}

# "TARGET" for every link of a Markdown file, one per line.
links() {
    awk '
        /^[ ]*(```|~~~)/ { fence = !fence; next }
        fence { next }
        {
            line = $0
            gsub(/`[^`]*`/, "", line)
            if (match(line, /^[ ]*\[[^]]+\]:[ \t]+[^ \t]+/)) {
                t = substr(line, RSTART, RLENGTH); sub(/^[ ]*\[[^]]+\]:[ \t]+/, "", t); print t
                next
            }
            while (match(line, /\]\([^) \t]+[) \t]/)) {
                t = substr(line, RSTART + 2, RLENGTH - 3)
                print t
                line = substr(line, RSTART + RLENGTH)
            }
        }' "$1"
}

# Checks the files given; prints the bad links; exit status 1 when any.
check() {
    bad=0 count=0
    for md in "$@"; do
        dir=$(dirname "$md")
        for target in $(links "$md"); do
            count=$((count + 1))
            case "$target" in
            http://* | https://* | mailto:*) continue ;;
            esac
            path=${target%%#*}
            anchor=
            case "$target" in *'#'*) anchor=${target#*#} ;; esac
            if [ -z "$path" ]; then
                file=$md
            else
                file=$dir/$path
            fi
            if [ ! -e "$file" ]; then
                echo "bad link: $md: $target: $file does not exist"
                bad=1
                continue
            fi
            if [ -n "$anchor" ]; then
                case "$file" in
                *.md)
                    if ! anchors "$file" | grep -qx -- "$anchor"; then
                        echo "bad link: $md: $target: no heading #$anchor in $file"
                        bad=1
                    fi
                    ;;
                *)
                    echo "bad link: $md: $target: an anchor into a file that is not Markdown"
                    bad=1
                    ;;
                esac
            fi
        done
    done
    checked=$count
    return $bad
}

# The checker must catch what it is for: a missing file, a missing anchor;
# and pass a good link, an anchor with punctuation, a repeated heading.
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
printf '# Top\n## A `b`, c!\n## Top\n[ok](#a-b-c) [ok2](#top-1) [f](b.md)\n```\n[no](nowhere.md)\n```\n' \
    >"$tmp/a.md"
printf '# B\n' >"$tmp/b.md"
if ! out=$(check "$tmp/a.md"); then
    echo "FAIL: links.sh refuses good links: $out"
    exit 1
fi
printf '# Top\n[x](missing.md) [y](b.md#nope) [z](#top)\n' >"$tmp/c.md"
out=$(check "$tmp/c.md")
if [ "$(echo "$out" | grep -c '^bad link:')" != 2 ]; then
    echo "FAIL: links.sh does not catch a missing file and a missing anchor: $out"
    exit 1
fi

if [ $# -eq 0 ]; then
    set -- README.md etc/README.md
    for f in test/*/README.md; do [ -e "$f" ] && set -- "$@" "$f"; done
fi
if check "$@"; then
    echo "links: $checked links in $# files, all good"
    exit 0
fi
echo "FAIL: bad links (above)"
exit 1
