# bash completion for envoi(1)                               -*- shell-script -*-
#
# Completes option names, the values of --tls, --priority, --dsn-notify,
# --dsn-return and --auth, account names from the configuration file, file
# names for FILE options, directories for --pickup-dir and commands for
# --password-command. Works with or without the bash-completion package.

# Options that take an argument (long, then short forms).
_envoi_opts_arg='--from --to --cc --bcc --reply-to --subject --body --body-file
--html --html-file --attach --priority --header --inline --message-file
--server --port --tls --user --password-file --password-command --auth
--ca-file --fingerprint --client-cert --client-key --helo --timeout --proxy
--dsn-notify --dsn-return --retry --account --config --pickup-dir --pickup-mode
--queue-dir --queue-lifetime --log --batch --connections --max-per-connection
--rate --oauth2-provider --oauth2-client-id --oauth2-client-secret-command
--oauth2-client-secret-file --oauth2-tenant --oauth2-flow --oauth2-ca-file
--oauth2-auth-url --oauth2-device-url --oauth2-token-url --oauth2-scope'
_envoi_opts_flag='--read-receipt --insecure --ipv4 --ipv6 --probe --verbose
--quiet --json --dry-run --queue --flush --queue-list --oauth2-login --help --usage
--version'
_envoi_short_arg='-f -t -c -b -r -s -m -a -p -H -S -P -u'
_envoi_short_flag='-4 -6 -v -q -V'

# The configuration file envoi would read: --config typed on the line,
# else $ENVOI_CONFIG, else the per-user file, else /etc/envoi.conf.
_envoi_config_file()
{
    local i w file=
    for ((i = 1; i < ${#COMP_WORDS[@]}; i++)); do
        ((i == COMP_CWORD)) && continue
        w=${COMP_WORDS[i]}
        case $w in
            --config=*) file=${w#--config=} ;;
            --config)
                if [[ ${COMP_WORDS[i + 1]-} == = ]]; then
                    file=${COMP_WORDS[i + 2]-}
                else
                    file=${COMP_WORDS[i + 1]-}
                fi
                ;;
        esac
    done
    if [[ -z $file ]]; then
        if [[ -n ${ENVOI_CONFIG-} ]]; then
            file=$ENVOI_CONFIG
        else
            file=${XDG_CONFIG_HOME:-$HOME/.config}/envoi/config
            [[ -e $file ]] || file=/etc/envoi.conf
        fi
    fi
    # Undo the quoting a user may have typed, and expand a leading ~.
    file=${file#[\"\']}
    file=${file%[\"\']}
    [[ $file == \~/* ]] && file=$HOME/${file#\~/}
    printf '%s\n' "$file"
}

# The names of the [account NAME] sections of the configuration file.
_envoi_accounts()
{
    local file
    file=$(_envoi_config_file)
    [[ -r $file ]] || return 0
    sed -n 's/\r$//; s/^[[:space:]]*\[[[:space:]]*account[[:space:]][[:space:]]*\([^][]*[^][[:space:]]\)[[:space:]]*\][[:space:]]*$/\1/p' \
        "$file" 2>/dev/null
}

# Fills COMPREPLY with the words of $1 that start with $2.
_envoi_words()
{
    local IFS=$'\n'
    COMPREPLY=($(compgen -W "$1" -- "$2"))
}

# Completes the value $2 of option $1; returns 1 when $1 takes no value.
_envoi_value()
{
    local opt=$1 cur=$2 head IFS=$'\n'
    case $opt in
        --tls)
            _envoi_words $'auto\nimplicit\nstarttls\nnone' "$cur" ;;
        --priority | -p)
            _envoi_words $'low\nnormal\nhigh\nurgent' "$cur" ;;
        --dsn-return)
            _envoi_words $'full\nheaders' "$cur" ;;
        --oauth2-provider)
            _envoi_words $'microsoft\ngoogle\ncustom' "$cur" ;;
        --oauth2-flow)
            _envoi_words $'device\nbrowser\nclient-credentials' "$cur" ;;
        --dsn-notify)
            # A comma-separated list: complete its last item.
            head=
            [[ $cur == *,* ]] && head=${cur%,*},
            COMPREPLY=($(compgen -P "$head" -W $'never\nsuccess\nfailure\ndelay' -- "${cur##*,}"))
            ;;
        --auth)
            _envoi_words $'SCRAM-SHA-256-PLUS\nSCRAM-SHA-1-PLUS\nSCRAM-SHA-256\nSCRAM-SHA-1\nCRAM-MD5\nPLAIN\nLOGIN\nXOAUTH2\nOAUTHBEARER' "$cur" ;;
        --account)
            _envoi_words "$(_envoi_accounts)" "$cur"
            for head in "${!COMPREPLY[@]}"; do
                printf -v 'COMPREPLY[head]' %q "${COMPREPLY[head]}"
            done
            ;;
        --body-file | --html-file | --attach | -a | --inline | --message-file | \
            --password-file | --ca-file | --client-cert | --client-key | --config | \
            --oauth2-client-secret-file | --oauth2-ca-file)
            compopt -o filenames 2>/dev/null
            COMPREPLY=($(compgen -f -- "$cur"))
            ;;
        --pickup-dir)
            compopt -o filenames 2>/dev/null
            COMPREPLY=($(compgen -d -- "$cur"))
            ;;
        --password-command | --oauth2-client-secret-command)
            COMPREPLY=($(compgen -c -- "$cur"))
            ;;
        --server | -S)
            COMPREPLY=($(compgen -A hostname -- "$cur"))
            ;;
        --proxy)
            _envoi_words 'socks5://' "$cur"
            compopt -o nospace 2>/dev/null
            ;;
        --from | -f | --to | -t | --cc | -c | --bcc | -b | --reply-to | -r | \
            --subject | -s | --body | -m | --html | --header | -H | --port | -P | \
            --user | -u | --fingerprint | --helo | --timeout | --retry | \
            --oauth2-client-id | --oauth2-tenant | --oauth2-auth-url | \
            --oauth2-device-url | --oauth2-token-url | --oauth2-scope)
            COMPREPLY=()
            ;;
        *)
            return 1 ;;
    esac
    return 0
}

_envoi()
{
    local cur=${COMP_WORDS[COMP_CWORD]} prev= prev2= i
    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
    ((COMP_CWORD > 1)) && prev2=${COMP_WORDS[COMP_CWORD - 2]}
    COMPREPLY=()

    # --opt=value, with "=" a word of its own (bash's default
    # COMP_WORDBREAKS) or not.
    if [[ $cur == = && $prev == --* ]]; then
        _envoi_value "$prev" ""
        return 0
    fi
    if [[ $prev == = && $prev2 == --* ]]; then
        _envoi_value "$prev2" "$cur"
        return 0
    fi
    if [[ $cur == --*=* ]]; then
        local opt=${cur%%=*} i
        _envoi_value "$opt" "${cur#*=}" || return 0
        for i in "${!COMPREPLY[@]}"; do
            COMPREPLY[i]=$opt=${COMPREPLY[i]}
        done
        return 0
    fi
    # --opt value, -o value
    if [[ $prev == -* ]] && _envoi_value "$prev" "$cur"; then
        return 0
    fi

    if [[ $cur == -* ]]; then
        local long=() o
        for o in $_envoi_opts_arg; do long+=("$o="); done
        for o in $_envoi_opts_flag; do long+=("$o"); done
        if [[ $cur == --* ]]; then
            COMPREPLY=($(compgen -W "${long[*]}" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "${long[*]} $_envoi_short_arg $_envoi_short_flag" -- "$cur"))
        fi
        if [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *= ]]; then
            compopt -o nospace 2>/dev/null
        fi
        return 0
    fi
    # RECIPIENT arguments: nothing to offer.
    return 0
}

complete -F _envoi envoi
