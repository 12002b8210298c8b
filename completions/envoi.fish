# fish completion for envoi(1)
#
# Completes option names, the values of --tls, --priority, --dsn-notify,
# --dsn-return and --auth, account names from the configuration file, file
# names for FILE options, directories for --pickup-dir and commands for
# --password-command.

# The names of the [account NAME] sections of the configuration file envoi
# would read: --config on the line, else $ENVOI_CONFIG, else the per-user
# file, else /etc/envoi.conf.
function __envoi_accounts
    set -l file
    set -l tokens (commandline -opc)
    set -l n (count $tokens)
    for i in (seq 2 $n)
        switch $tokens[$i]
            case '--config=*'
                set file (string replace -- '--config=' '' $tokens[$i])
            case --config
                if test $i -lt $n
                    set file $tokens[(math $i + 1)]
                end
        end
    end
    if test -z "$file"
        if set -q ENVOI_CONFIG; and test -n "$ENVOI_CONFIG"
            set file $ENVOI_CONFIG
        else
            set -l dir $HOME/.config
            if set -q XDG_CONFIG_HOME; and test -n "$XDG_CONFIG_HOME"
                set dir $XDG_CONFIG_HOME
            end
            set file $dir/envoi/config
            test -e $file; or set file /etc/envoi.conf
        end
    end
    set file (string replace -r '^~/' "$HOME/" -- $file)
    test -r "$file"; or return
    string replace -r '\r$' '' <$file | string replace -rf \
        '^\s*\[\s*account\s+([^][]*[^][\s])\s*\]\s*$' '$1'
end

# Completes the last item of a comma-separated --dsn-notify list.
function __envoi_dsn_notify
    set -l cur (commandline -ct | string replace -r '^--dsn-notify=' '')
    set -l head (string match -r '^.*,' -- $cur)
    set -l used (string split , -- $head)
    for w in never success failure delay
        contains -- $w $used; or printf '%s%s\n' "$head" $w
    end
end

complete -c envoi -f

# Message
complete -c envoi -s f -l from -x -d 'Sender (From header and MAIL FROM)'
complete -c envoi -s t -l to -x -d 'To recipient'
complete -c envoi -s c -l cc -x -d 'Cc recipient'
complete -c envoi -s b -l bcc -x -d 'Bcc recipient (envelope only)'
complete -c envoi -s r -l reply-to -x -d 'Reply-To address'
complete -c envoi -s s -l subject -x -d 'Subject'
complete -c envoi -s m -l body -x -d 'Plain-text body'
complete -c envoi -l body-file -r -F -d 'Plain-text body from FILE (- for stdin)'
complete -c envoi -l html -x -d 'HTML body'
complete -c envoi -l html-file -r -F -d 'HTML body from FILE (- for stdin)'
complete -c envoi -s a -l attach -r -F -d 'Attach FILE'
complete -c envoi -s p -l priority -x -a 'low normal high urgent' -d 'Priority'
complete -c envoi -s H -l header -x -d "Extra header 'NAME: VALUE'"
complete -c envoi -l inline -r -F -d 'Image for the HTML body (cid:FILENAME)'
complete -c envoi -l read-receipt -d 'Ask for a read receipt'
complete -c envoi -l message-file -r -F -d 'Send this ready RFC 5322 message'

# Session
complete -c envoi -s S -l server -x -a '(__fish_print_hostnames)' -d 'SMTP server HOST[:PORT]'
complete -c envoi -s P -l port -x -d 'Port'
complete -c envoi -l tls -x -a 'auto implicit starttls none' -d 'TLS mode'
complete -c envoi -s u -l user -x -d 'SASL user name'
complete -c envoi -l password-file -r -F -d 'Read the password from FILE'
complete -c envoi -l password-command -x -a '(__fish_complete_command)' -d 'Run CMD to get the password'
complete -c envoi -l auth -x -a 'SCRAM-SHA-256-PLUS SCRAM-SHA-1-PLUS SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN XOAUTH2 OAUTHBEARER' -d 'SASL mechanism'
complete -c envoi -l ca-file -r -F -d 'Trust the CA certificates in FILE'
complete -c envoi -l fingerprint -x -d 'Pin the server certificate (SHA-256)'
complete -c envoi -l insecure -d 'Do not verify the server certificate'
complete -c envoi -l client-cert -r -F -d 'TLS client certificate (PEM)'
complete -c envoi -l client-key -r -F -d 'Key of the client certificate (PEM)'
complete -c envoi -l helo -x -d 'EHLO name'
complete -c envoi -l timeout -x -d 'Timeout of each step in seconds'
complete -c envoi -s 4 -l ipv4 -d 'Use IPv4 only'
complete -c envoi -s 6 -l ipv6 -d 'Use IPv6 only'
complete -c envoi -l proxy -x -a 'socks5://' -d 'SOCKS5 proxy'
complete -c envoi -l dsn-notify -x -a '(__envoi_dsn_notify)' -d 'Delivery status notifications'
complete -c envoi -l dsn-return -x -a 'full headers' -d 'What a notification returns'
complete -c envoi -l retry -x -d 'Retry a temporary failure N times'
complete -c envoi -l probe -d 'Show what the server offers, send nothing'
complete -c envoi -l account -x -a '(__envoi_accounts)' -d 'Account of the configuration file'
complete -c envoi -l config -r -F -d 'Configuration file'

# Output
complete -c envoi -s v -l verbose -d 'Show the SMTP transcript'
complete -c envoi -s q -l quiet -d 'Print nothing unless it fails'
complete -c envoi -l json -d 'Print the result as JSON on stdout'
complete -c envoi -l pickup-dir -x -a '(__fish_complete_directories)' -d 'Write the message into DIR'
complete -c envoi -l pickup-mode -x -a '600 640 644' -d 'Octal mode of the --pickup-dir file'
complete -c envoi -l dry-run -d 'Write the message to stdout'

# Queue and log
complete -c envoi -l queue -d 'Queue a message the server could not take for now'
complete -c envoi -l flush -d 'Send every queued message'
complete -c envoi -l queue-list -d 'List the queue'
complete -c envoi -l queue-dir -x -a '(__fish_complete_directories)' -d 'Queue directory'
complete -c envoi -l queue-lifetime -x -a '1h 1d 5d' -d 'Give up on a queued message after TIME'
complete -c envoi -l log -r -a 'syslog' -d 'Log one line per outcome to FILE or syslog'

# Batch
complete -c envoi -l batch -r -d 'Send one message per JSON line of FILE'
complete -c envoi -l connections -x -a '1 2 4 8 16' -d 'Batch sessions in parallel'
complete -c envoi -l max-per-connection -x -d 'A new session after N messages'
complete -c envoi -l rate -x -a '10/s 100/m 1000/h' -d 'At most N messages per second, minute or hour'

# OAuth2
complete -c envoi -l oauth2-login -d 'Log the account in once and store its tokens'
complete -c envoi -l oauth2-provider -x -a 'microsoft google custom' -d 'OAuth2 tokens from'
complete -c envoi -l oauth2-client-id -x -d 'OAuth2 application (client) id'
complete -c envoi -l oauth2-client-secret-command -x -a '(__fish_complete_command)' -d 'Command printing the OAuth2 client secret'
complete -c envoi -l oauth2-client-secret-file -r -d 'File holding the OAuth2 client secret'
complete -c envoi -l oauth2-tenant -x -d 'Microsoft tenant'
complete -c envoi -l oauth2-flow -x -a 'device browser client-credentials' -d 'OAuth2 login flow'
complete -c envoi -l oauth2-ca-file -r -d 'CAs to trust for the identity provider'
complete -c envoi -l oauth2-auth-url -x -d 'Authorization endpoint'
complete -c envoi -l oauth2-device-url -x -d 'Device authorization endpoint'
complete -c envoi -l oauth2-token-url -x -d 'Token endpoint'
complete -c envoi -l oauth2-scope -x -d 'Scopes to ask for'

# Informational
complete -c envoi -s '?' -l help -d 'Give the help list'
complete -c envoi -l usage -d 'Give a short usage message'
complete -c envoi -s V -l version -d 'Print the program version'
