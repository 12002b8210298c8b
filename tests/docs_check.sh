#!/bin/bash
# docs_check.sh ENVOI SRCDIR - the man page and the shell completions
# against the program, as TAP.
#
# Checks that every long option `envoi --help` shows is documented in
# man/envoi.1 and completed by completions/{envoi.bash,_envoi,envoi.fish};
# that the man page renders without warnings and lists every exit code of
# src/error.c; that bash, zsh and fish load the completions; and that they
# complete option names, --tls values and --account names from a sample
# configuration file. A shell that is not installed is skipped.
#
# Exit status: 0 when every test passes (or is skipped), 1 otherwise.

set -u

if [[ $# -ne 2 ]]; then
	echo "usage: $0 ENVOI SRCDIR" >&2
	exit 2
fi
envoi=$1
src=$2
man_page=$src/man/envoi.1
bash_comp=$src/completions/envoi.bash
zsh_comp=$src/completions/_envoi
fish_comp=$src/completions/envoi.fish
error_c=$src/src/error.c

tmp=$(mktemp -d "${TMPDIR:-/tmp}/envoi-docs.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

# The shells run in a clean home, so that no user setting and no user
# configuration file changes what they complete.
mkdir -p "$tmp/home/.config"
clean_env=(env -u ENVOI_CONFIG -u ENVOI_ACCOUNT HOME="$tmp/home"
	XDG_CONFIG_HOME="$tmp/home/.config" XDG_DATA_HOME="$tmp/home/.local/share"
	XDG_CACHE_HOME="$tmp/home/.cache" LC_ALL=C.UTF-8)

cat >"$tmp/sample.conf" <<'EOF'
# a sample configuration file
from = test@example.com

[account default]
server = smtp.example.com

  [ account   alpha ]
server = a.example.com
; [account commented]
[account beta-2]
server = b.example.com
EOF
accounts_want=$'alpha\nbeta-2\ndefault'

n=0
failed=0
plan=19
echo "1..$plan"

pass() {
	n=$((n + 1))
	echo "ok $n - $1"
}

# fail NAME [DIAGNOSTIC...]
fail() {
	local line
	n=$((n + 1))
	failed=1
	echo "not ok $n - $1"
	shift
	for line in "$@"; do
		printf '%s\n' "$line" | sed 's/^/# /'
	done
}

skip() {
	n=$((n + 1))
	echo "ok $n # SKIP $1"
}

# check NAME MISSING: passes when MISSING (a list) is empty.
check() {
	if [[ -z $2 ]]; then
		pass "$1"
	else
		fail "$1" "missing: $(echo $2)"
	fi
}

# Lines of $1 that are not lines of $2 (both lists, one item a line).
missing_from() {
	comm -23 <(printf '%s\n' "$1" | sed '/^$/d' | sort -u) \
		<(printf '%s\n' "$2" | sed '/^$/d' | sort -u)
}

have() {
	command -v "$1" >/dev/null 2>&1
}

# ---- the options, from the program itself --------------------------

opts=$("$envoi" --help 2>/dev/null |
	sed -n 's/^ *\(-[^ ], \)\{0,1\}--\([a-z0-9][a-z0-9-]*\).*/\2/p' | sort -u)
if [[ $(printf '%s\n' "$opts" | grep -c .) -ge 10 ]]; then
	pass "envoi --help lists $(printf '%s\n' "$opts" | grep -c .) long options"
else
	fail "envoi --help lists the long options" "got: $(echo $opts)"
fi
long_opts=$(printf -- '--%s\n' $opts)

# ---- man page -------------------------------------------------------

# Options as the man page spells them: \-\-name\-with\-dashes.
man_opts=$(grep -v '^\.\\"' "$man_page" 2>/dev/null |
	grep -oE '\\-\\-[a-z0-9]([a-z0-9]|\\-[a-z0-9])*' | sed 's/\\//g' | sort -u)
check "man page documents every long option (as \\-\\-name)" \
	"$(missing_from "$long_opts" "$man_opts")"

# Options of other programs that the page shows in their examples, and
# --sendmail, which is only a first argument that selects sendmail mode.
foreign_opts=$(printf -- '--%s\n' label sendmail)
unknown=$(missing_from "$man_opts" "$long_opts
$foreign_opts")
raw=$(grep -v '^\.\\"' "$man_page" 2>/dev/null | grep -nE '(^|[^\\])--[a-z]')
if [[ -z $unknown && -z $raw ]]; then
	pass "man page names no unknown option and writes dashes as \\-"
else
	fail "man page names no unknown option and writes dashes as \\-" \
		${unknown:+"unknown: $(echo $unknown)"} ${raw:+"unescaped: $raw"}
fi

if have groff; then
	warnings=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$man_page" 2>&1)
	if [[ $? -eq 0 && -z $warnings ]]; then
		pass "groff -man -ww renders the man page without warnings"
	else
		fail "groff -man -ww renders the man page without warnings" "$warnings"
	fi
else
	skip "groff is not installed"
fi

if have man; then
	rendered=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$man_page" 2>"$tmp/man.err")
	if [[ $? -eq 0 && ! -s $tmp/man.err && $rendered == *"EXIT STATUS"* ]]; then
		pass "man -l renders the man page without warnings"
	else
		fail "man -l renders the man page without warnings" "$(cat "$tmp/man.err")"
	fi
else
	skip "man is not installed"
fi

# The codes of error.c's table against the tags of EXIT STATUS's .TP list.
codes=$(grep -oE '^[[:space:]]*\[ERR_[A-Z_]+\][[:space:]]*=[[:space:]]*\{[[:space:]]*[0-9]+' \
	"$error_c" 2>/dev/null | grep -oE '[0-9]+$' | sort -u)
documented=$(awk '
	/^\.SH/ { in_sect = ($0 ~ /EXIT STATUS/); next }
	in_sect && after_tp && match($0, /[0-9]+/) { print substr($0, RSTART, RLENGTH) }
	{ after_tp = ($0 ~ /^\.TP/) }' "$man_page" 2>/dev/null | sort -u)
if [[ -z $codes ]]; then
	fail "EXIT STATUS lists every code of src/error.c" "no codes found in $error_c"
else
	undocumented=$(missing_from "$codes" "$documented")
	extra=$(missing_from "$documented" "$codes")
	if [[ -z $undocumented && -z $extra ]]; then
		pass "EXIT STATUS lists exactly the $(echo $codes | wc -w) codes of src/error.c"
	else
		fail "EXIT STATUS lists exactly the codes of src/error.c" \
			${undocumented:+"missing: $(echo $undocumented)"} \
			${extra:+"not in error.c: $(echo $extra)"}
	fi
fi

# ---- completion files, as text ---------------------------------------

words_in() {
	grep -oE -- '--[a-z0-9][a-z0-9-]*' "$1" 2>/dev/null | sort -u
}
check "bash completion names every long option" \
	"$(missing_from "$long_opts" "$(words_in "$bash_comp")")"
check "zsh completion names every long option" \
	"$(missing_from "$long_opts" "$(words_in "$zsh_comp")")"
fish_opts=$(grep -oE -- '(^|[[:space:]])(-l|--long-option)[[:space:]]+[a-z0-9][a-z0-9-]*' \
	"$fish_comp" 2>/dev/null | awk '{ print "--" $NF }' | sort -u)
check "fish completion names every long option" \
	"$(missing_from "$long_opts" "$fish_opts")"

# ---- bash ------------------------------------------------------------

# bash_complete [VAR=value...] -- WORD...: what _envoi offers for the last
# WORD, one a line. "=" is a word of its own, as with bash's default
# COMP_WORDBREAKS.
bash_complete() {
	local vars=()
	while [[ $1 != -- ]]; do
		vars+=("$1")
		shift
	done
	shift
	"${clean_env[@]}" "${vars[@]}" bash --norc --noprofile -c '
		source "$1" || exit 1
		shift
		COMP_WORDS=("$@")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMP_LINE="$*"
		COMP_POINT=${#COMP_LINE}
		_envoi envoi "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}"' bash "$bash_comp" "$@"
}

if have bash; then
	err=$("${clean_env[@]}" bash --norc --noprofile -c \
		'source "$1" && complete -p envoi >/dev/null' bash "$bash_comp" 2>&1)
	if [[ $? -eq 0 && -z $err ]]; then
		pass "bash loads the completion and binds it to envoi"
	else
		fail "bash loads the completion and binds it to envoi" "$err"
	fi

	got=$(bash_complete -- envoi -- 2>&1 | sed 's/=$//')
	check "bash completes every long option after --" "$(missing_from "$long_opts" "$got")"

	got=$(bash_complete -- envoi --tls = "" 2>&1)
	if [[ $(missing_from $'auto\nimplicit\nstarttls\nnone' "$got") == "" ]] &&
		[[ $(bash_complete -- envoi --priority "" 2>&1 | sort | tr '\n' ' ') == "high low normal urgent " ]]; then
		pass "bash completes --tls and --priority values"
	else
		fail "bash completes --tls and --priority values" "--tls= gave: $(echo $got)"
	fi

	by_option=$(bash_complete -- envoi --config = "$tmp/sample.conf" --account = "" 2>&1 | sort)
	by_env=$(bash_complete ENVOI_CONFIG="$tmp/sample.conf" -- envoi --account "" 2>&1 | sort)
	if [[ $by_option == "$accounts_want" && $by_env == "$accounts_want" ]]; then
		pass "bash completes --account names from --config and ENVOI_CONFIG"
	else
		fail "bash completes --account names from --config and ENVOI_CONFIG" \
			"want: $(echo $accounts_want)" "with --config: $(echo $by_option)" \
			"with ENVOI_CONFIG: $(echo $by_env)"
	fi
else
	skip "bash is not installed"
	skip "bash is not installed"
	skip "bash is not installed"
	skip "bash is not installed"
fi

# ---- zsh -------------------------------------------------------------

# zsh_complete LINE: what the completion offers at the end of LINE, one a
# line, from an interactive zsh driven through a pseudo-terminal. Each
# step waits for the shell to echo a marker, so no timing is assumed.
zsh_complete() {
	cat >"$tmp/zcomplete.zsh" <<'EOF'
zmodload zsh/zpty || exit 1
dir=$1 line=$2 out=$3
zpty z zsh -f -i
# Type only while zle reads the terminal (after a prompt): in the
# terminal's own line mode, ^U would erase the line before zle saw it.
zpty -r z l '*[%#] ' || exit 1
zpty -w z "PS1='Z''P> '; fpath=($dir \$fpath); autoload -U compinit; compinit -u -D"
zpty -w z 'bindkey "^U" kill-whole-line; _envoi_list() { compadd() { local -a __r; builtin compadd -O __r "$@"; print -rl -- "${__r[@]}" >>$ENVOI_ZOUT; builtin compadd "$@"; }; _main_complete; unfunction compadd; }; zle -C envoi-list complete-word _envoi_list; bindkey "^T" envoi-list'
zpty -w z "ENVOI_ZOUT=${(q)out}; print READY\$((6*7))"
zpty -r z l '*READY42*ZP> ' || exit 1
# ^T lists the candidates, ^U empties the line: zle reads keys in order.
zpty -n -w z "$line"$'\x14\x15'
zpty -w z 'print DONE$((6*7))'
zpty -r z l '*DONE42*ZP> '
zpty -d z
EOF
	rm -f "$tmp/zout"
	"${clean_env[@]}" "${@:2}" timeout 30 zsh -f "$tmp/zcomplete.zsh" \
		"$(dirname "$zsh_comp")" "$1" "$tmp/zout" >/dev/null 2>&1
	[[ -f $tmp/zout ]] && sort -u "$tmp/zout"
}

if have zsh; then
	err=$("${clean_env[@]}" zsh -f -c '
		zsh -n "$1" || exit 1
		fpath=("${1:h}" $fpath)
		autoload -U compinit && compinit -u -D || exit 1
		autoload -U +X _envoi || exit 1
		[[ $_comps[envoi] == _envoi ]]' zsh "$zsh_comp" 2>&1)
	if [[ $? -eq 0 && -z $err ]]; then
		pass "zsh loads the completion and binds it to envoi"
	else
		fail "zsh loads the completion and binds it to envoi" "$err"
	fi

	got=$(zsh_complete "envoi --config=$tmp/sample.conf --account=")
	if [[ $got == "$accounts_want" ]]; then
		pass "zsh completes --account names from --config"
	else
		fail "zsh completes --account names from --config" \
			"want: $(echo $accounts_want)" "got: $(echo $got)"
	fi
else
	skip "zsh is not installed"
	skip "zsh is not installed"
fi

# ---- fish ------------------------------------------------------------

# fish_complete [VAR=value...] -- LINE: the candidates for LINE.
fish_complete() {
	local vars=()
	while [[ $1 != -- ]]; do
		vars+=("$1")
		shift
	done
	"${clean_env[@]}" "${vars[@]}" fish --no-config -c \
		'source $argv[1]; or exit 1; complete -C$argv[2]' "$fish_comp" "$2" | cut -f1
}

if have fish; then
	err=$("${clean_env[@]}" fish --no-config -c 'source $argv[1]' "$fish_comp" 2>&1)
	if [[ $? -eq 0 && -z $err ]]; then
		pass "fish loads the completion"
	else
		fail "fish loads the completion" "$err"
	fi

	got=$(fish_complete -- "envoi --" 2>&1)
	check "fish completes every long option after --" "$(missing_from "$long_opts" "$got")"

	got=$(fish_complete -- "envoi --tls=" 2>&1 | sort | tr '\n' ' ')
	if [[ $got == "--tls=auto --tls=implicit --tls=none --tls=starttls " ]]; then
		pass "fish completes --tls values"
	else
		fail "fish completes --tls values" "got: $got"
	fi

	by_option=$(fish_complete -- "envoi --config $tmp/sample.conf --account " 2>&1 | sort)
	by_env=$(fish_complete ENVOI_CONFIG="$tmp/sample.conf" -- "envoi --account " 2>&1 | sort)
	if [[ $by_option == "$accounts_want" && $by_env == "$accounts_want" ]]; then
		pass "fish completes --account names from --config and ENVOI_CONFIG"
	else
		fail "fish completes --account names from --config and ENVOI_CONFIG" \
			"want: $(echo $accounts_want)" "with --config: $(echo $by_option)" \
			"with ENVOI_CONFIG: $(echo $by_env)"
	fi
else
	skip "fish is not installed"
	skip "fish is not installed"
	skip "fish is not installed"
	skip "fish is not installed"
fi

if [[ $n -ne $plan ]]; then
	echo "# planned $plan tests but ran $n" >&2
	exit 1
fi
exit $failed
