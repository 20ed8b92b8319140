/*
 * completion.c - bash, zsh and fish completion (see completion.h).
 */
#include "tools/completion.h"

#include <errno.h>
#include <string.h>

#define FX_COMMANDS "mount umount health sync config cache stats sim brain completion"
#define FX_SIM_OPTS                                                                                \
	"--trace --format --cache-size --policy --prefetch --block-size --readahead-max "            \
	"--prefetch-max --json --curve --sizes --help"
#define FX_BRAIN_OPTS "--json --top --dot --min-weight --max-edges --help"
#define FX_SYNC_OPTS                                                                               \
	"--delete -n --dry-run --checksum --exclude --include --concurrency --json -v --verbose --help"
#define FX_GLOBAL_OPTS "-c --config -v --verbose --json -h --help --version"

static void fx_opt_word(void *arg, const struct fx_conf_key *k)
{
	FILE *f = arg;

	if (k->mount_opt)
		fprintf(f, " %s%s", k->mount_opt, k->type == FX_CONF_BOOL ? "" : "=");
}

static void fx_fish_opt(void *arg, const struct fx_conf_key *k)
{
	FILE *f = arg;

	if (k->mount_opt)
		fprintf(f, "complete -c rustfx -n '__fish_seen_subcommand_from mount' -s o -x -a '%s%s' -d '%s'\n",
			k->mount_opt, k->type == FX_CONF_BOOL ? "" : "=", k->section);
}

static void fx_bash(const struct fx_config *cfg, FILE *f)
{
	fprintf(f, "# bash completion for rustfx: source <(rustfx completion bash)\n"
		   "_rustfx() {\n"
		   "  local cur prev cmd i\n"
		   "  cur=\"${COMP_WORDS[COMP_CWORD]}\"\n"
		   "  prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n"
		   "  cmd=\"\"\n"
		   "  for ((i=1; i<COMP_CWORD; i++)); do\n"
		   "    case \"${COMP_WORDS[i]}\" in -c|--config) ((i++));; -*) ;; *) cmd=\"${COMP_WORDS[i]}\"; break;; esac\n"
		   "  done\n"
		   "  case \"$prev\" in\n"
		   "    -c|--config) COMPREPLY=($(compgen -f -- \"$cur\")); return;;\n"
		   "    -o)\n"
		   "      local opts=\"");
	fx_config_each_key(cfg, fx_opt_word, f);
	fprintf(f, "\"\n"
		   "      local head=\"${cur%%,*}\" last=\"${cur##*,}\"\n"
		   "      [[ \"$cur\" == *,* ]] && head=\"${cur%%,*},\" || head=\"\"\n"
		   "      COMPREPLY=($(compgen -P \"$head\" -W \"$opts\" -- \"$last\")); compopt -o nospace 2>/dev/null; return;;\n"
		   "  esac\n"
		   "  case \"$cmd\" in\n"
		   "    \"\") COMPREPLY=($(compgen -W \"" FX_COMMANDS " " FX_GLOBAL_OPTS "\" -- \"$cur\"));;\n"
		   "    mount) COMPREPLY=($(compgen -W \"-f -o --help\" -- \"$cur\")); [[ \"$cur\" != -* ]] && COMPREPLY+=($(compgen -d -- \"$cur\"));;\n"
		   "    umount) COMPREPLY=($(compgen -d -- \"$cur\"));;\n"
		   "    sync)\n"
		   "      case \"$prev\" in\n"
		   "        --exclude|--include|--concurrency) ;;\n"
		   "        *) COMPREPLY=($(compgen -W \"" FX_SYNC_OPTS "\" -- \"$cur\")); [[ \"$cur\" != -* ]] && COMPREPLY+=($(compgen -d -- \"$cur\"));;\n"
		   "      esac;;\n"
		   "    health) COMPREPLY=($(compgen -W \"-o --json --samples --timeout --help\" -- \"$cur\")); [[ \"$cur\" != -* ]] && COMPREPLY+=($(compgen -d -- \"$cur\"));;\n"
		   "    config) COMPREPLY=($(compgen -W \"print --json\" -- \"$cur\"));;\n"
		   "    cache) COMPREPLY=($(compgen -W \"verify clear --json --help\" -- \"$cur\")); [[ \"$cur\" != -* ]] && COMPREPLY+=($(compgen -d -- \"$cur\"));;\n"
		   "    completion) COMPREPLY=($(compgen -W \"bash zsh fish\" -- \"$cur\"));;\n"
		   "    brain)\n"
		   "      case \"$prev\" in\n"
		   "        --top|--min-weight|--max-edges) ;;\n"
		   "        brain) COMPREPLY=($(compgen -W \"show export reset --help\" -- \"$cur\"));;\n"
		   "        *) COMPREPLY=($(compgen -W \"" FX_BRAIN_OPTS "\" -- \"$cur\")); [[ \"$cur\" != -* ]] && COMPREPLY+=($(compgen -d -- \"$cur\"));;\n"
		   "      esac;;\n"
		   "    sim)\n"
		   "      case \"$prev\" in\n"
		   "        --trace) COMPREPLY=($(compgen -f -- \"$cur\"));;\n"
		   "        --format) COMPREPLY=($(compgen -W \"rustfx csv lirs cloudphysics auto\" -- \"$cur\"));;\n"
		   "        --policy) COMPREPLY=($(compgen -W \"lru arc s3fifo sieve belady snn\" -- \"$cur\"));;\n"
		   "        --prefetch) COMPREPLY=($(compgen -W \"off seq snn\" -- \"$cur\"));;\n"
		   "        *) COMPREPLY=($(compgen -W \"" FX_SIM_OPTS "\" -- \"$cur\"));;\n"
		   "      esac;;\n"
		   "  esac\n"
		   "}\n"
		   "complete -F _rustfx rustfx\n");
}

static void fx_zsh(const struct fx_config *cfg, FILE *f)
{
	fprintf(f, "#compdef rustfx\n"
		   "# zsh completion for rustfx: rustfx completion zsh > \"${fpath[1]}/_rustfx\"\n"
		   "_rustfx() {\n"
		   "  local -a commands mount_opts\n"
		   "  commands=(\n"
		   "    'mount:mount URL at MOUNTPOINT'\n"
		   "    'umount:unmount MOUNTPOINT'\n"
		   "    'health:check a backend and a mount'\n"
		   "    'sync:copy between local paths and buckets'\n"
		   "    'config:print the resolved configuration'\n"
		   "    'cache:check or empty a cache directory'\n"
		   "    'sim:replay a cache trace through the policies'\n"
		   "    'brain:show, export or reset the learned model'\n"
		   "    'completion:print a shell completion script'\n"
		   "  )\n"
		   "  mount_opts=(");
	fx_config_each_key(cfg, fx_opt_word, f);
	fprintf(f, ")\n"
		   "  _arguments -C \\\n"
		   "    '(-c --config)'{-c,--config}'[configuration file]:file:_files' \\\n"
		   "    '*'{-v,--verbose}'[more log output]' \\\n"
		   "    '--json[machine-readable output]' \\\n"
		   "    '(-h --help)'{-h,--help}'[help]' \\\n"
		   "    '1:command:->cmd' '*::arg:->args'\n"
		   "  case $state in\n"
		   "    cmd) _describe 'command' commands;;\n"
		   "    args)\n"
		   "      case $words[1] in\n"
		   "        mount) _arguments '-f[stay in the foreground]' '*-o[mount options]:option:_values -s , option $mount_opts' '1:url:' '2:mount point:_files -/';;\n"
		   "        umount) _files -/;;\n"
		   "        sync) _arguments '--delete[remove from DST what SRC lacks]' '(-n --dry-run)'{-n,--dry-run}'[change nothing]' "
		   "'--checksum[compare content]' '*--exclude[leave out keys]:glob:' '*--include[keep keys]:glob:' "
		   "'--concurrency[files in flight]:n:' '--json[JSON summary]' '(-v --verbose)'{-v,--verbose}'[each file]' "
		   "'1:SRC (directory, file:// or s3:// URL):_files -/' '2:DST (directory, file:// or s3:// URL):_files -/';;\n"
		   "        health) _arguments '*-o[mount options]:option:_values -s , option $mount_opts' '--json[JSON output]' "
		   "'--samples[requests timed]:n:' '--timeout[seconds for the daemon]:seconds:' '1:URL or mount point:_files -/';;\n"
		   "        config) _values 'config command' print --json;;\n"
		   "        cache) _arguments '--json[machine-readable output]' '1:cache command:(verify clear)' '2:cache directory:_files -/';;\n"
		   "        completion) _values 'shell' bash zsh fish;;\n"
		   "        brain) _arguments '--json[JSON output (show, reset)]' '--top[associations listed]:n:' "
		   "'--dot[export as Graphviz DOT]' '--min-weight[weakest association exported]:weight:' "
		   "'--max-edges[associations exported at most]:n:' '1:brain command:(show export reset)' "
		   "'2:cache directory:_files -/';;\n"
		   "        sim) _arguments '--trace[trace file]:file:_files' '--format[trace format]:format:(rustfx csv lirs cloudphysics auto)' "
		   "'--cache-size[bytes or a share of the footprint]:size:' '--policy[eviction policy]:policy:(lru arc s3fifo sieve belady snn)' "
		   "'--prefetch[prefetch mode]:mode:(off seq snn)' '--block-size[block bytes]:size:' '--readahead-max[seq window]:size:' "
		   "'--prefetch-max[snn blocks a request]:n:' '--json[JSON output]' '--curve[miss-ratio curve CSV]' '--sizes[curve sizes]:list:';;\n"
		   "      esac;;\n"
		   "  esac\n"
		   "}\n"
		   "compdef _rustfx rustfx\n");
}

static void fx_fish(const struct fx_config *cfg, FILE *f)
{
	fprintf(f, "# fish completion for rustfx: rustfx completion fish | source\n"
		   "complete -c rustfx -f\n"
		   "complete -c rustfx -s c -l config -r -d 'configuration file'\n"
		   "complete -c rustfx -s v -l verbose -d 'more log output'\n"
		   "complete -c rustfx -l json -d 'machine-readable output'\n"
		   "complete -c rustfx -s h -l help -d 'help'\n"
		   "complete -c rustfx -n '__fish_use_subcommand' -a mount -d 'mount URL at MOUNTPOINT'\n"
		   "complete -c rustfx -n '__fish_use_subcommand' -a umount -d 'unmount MOUNTPOINT'\n"
		   "complete -c rustfx -n '__fish_use_subcommand' -a health -d 'check a backend and a mount'\n"
		   "complete -c rustfx -n '__fish_use_subcommand' -a sync -d 'copy between paths and buckets'\n"
		   "complete -c rustfx -n '__fish_use_subcommand' -a config -d 'print the resolved configuration'\n"
		   "complete -c rustfx -n '__fish_use_subcommand' -a cache -d 'check or empty a cache directory'\n"
		   "complete -c rustfx -n '__fish_use_subcommand' -a sim -d 'replay a cache trace through the policies'\n"
		   "complete -c rustfx -n '__fish_use_subcommand' -a brain -d 'show, export or reset the learned model'\n"
		   "complete -c rustfx -n '__fish_use_subcommand' -a completion -d 'print a completion script'\n"
		   "complete -c rustfx -n '__fish_seen_subcommand_from mount' -s f -d 'stay in the foreground'\n"
		   "complete -c rustfx -n '__fish_seen_subcommand_from mount umount' -F\n"
		   "complete -c rustfx -n '__fish_seen_subcommand_from sync' -F\n"
		   "complete -c rustfx -n '__fish_seen_subcommand_from sync' -l delete -d 'remove from DST what SRC lacks'\n"
		   "complete -c rustfx -n '__fish_seen_subcommand_from sync' -s n -l dry-run -d 'change nothing'\n"
		   "complete -c rustfx -n '__fish_seen_subcommand_from sync' -l checksum -d 'compare content'\n"
		   "complete -c rustfx -n '__fish_seen_subcommand_from sync' -l exclude -x -d 'leave out keys (glob)'\n"
		   "complete -c rustfx -n '__fish_seen_subcommand_from sync' -l include -x -d 'keep keys (glob)'\n"
		   "complete -c rustfx -n '__fish_seen_subcommand_from sync' -l concurrency -x -d 'files in flight'\n"
		   "complete -c rustfx -n '__fish_seen_subcommand_from sync' -l json -d 'JSON summary'\n"
		   "complete -c rustfx -n '__fish_seen_subcommand_from config' -a 'print --json'\n"
		   "complete -c rustfx -n '__fish_seen_subcommand_from cache' -a 'verify clear --json' -F\n"
		   "complete -c rustfx -n '__fish_seen_subcommand_from completion' -a 'bash zsh fish'\n"
		   "complete -c rustfx -n '__fish_seen_subcommand_from brain; and not __fish_seen_subcommand_from show export reset' -a 'show export reset'\n"
		   "complete -c rustfx -n '__fish_seen_subcommand_from show export reset' -F\n"
		   "complete -c rustfx -n '__fish_seen_subcommand_from show' -l top -x -d 'associations listed'\n"
		   "complete -c rustfx -n '__fish_seen_subcommand_from export' -l dot -d 'Graphviz DOT'\n"
		   "complete -c rustfx -n '__fish_seen_subcommand_from export' -l min-weight -x -d 'weakest association'\n"
		   "complete -c rustfx -n '__fish_seen_subcommand_from export' -l max-edges -x -d 'associations at most'\n"
		   "complete -c rustfx -n '__fish_seen_subcommand_from sim' -l trace -r -d 'trace file'\n"
		   "complete -c rustfx -n '__fish_seen_subcommand_from sim' -l format -x -a 'rustfx csv lirs cloudphysics auto'\n"
		   "complete -c rustfx -n '__fish_seen_subcommand_from sim' -l cache-size -x -d 'bytes or N%% of the footprint'\n"
		   "complete -c rustfx -n '__fish_seen_subcommand_from sim' -l policy -x -a 'lru arc s3fifo sieve belady snn'\n"
		   "complete -c rustfx -n '__fish_seen_subcommand_from sim' -l prefetch -x -a 'off seq snn'\n"
		   "complete -c rustfx -n '__fish_seen_subcommand_from sim' -l block-size -x\n"
		   "complete -c rustfx -n '__fish_seen_subcommand_from sim' -l readahead-max -x\n"
		   "complete -c rustfx -n '__fish_seen_subcommand_from sim' -l prefetch-max -x\n"
		   "complete -c rustfx -n '__fish_seen_subcommand_from sim' -l sizes -x\n"
		   "complete -c rustfx -n '__fish_seen_subcommand_from sim' -l json -d 'JSON output'\n"
		   "complete -c rustfx -n '__fish_seen_subcommand_from sim' -l curve -d 'miss-ratio curve CSV'\n");
	fx_config_each_key(cfg, fx_fish_opt, f);
}

int fx_completion_print(const struct fx_config *cfg, const char *shell, FILE *f)
{
	if (strcmp(shell, "bash") == 0)
		fx_bash(cfg, f);
	else if (strcmp(shell, "zsh") == 0)
		fx_zsh(cfg, f);
	else if (strcmp(shell, "fish") == 0)
		fx_fish(cfg, f);
	else
		return -EINVAL;
	return 0;
}
