// The scripts `mesh completion bash|zsh|fish` prints. Each asks the binary for candidates
// (`mesh __complete -- <words>`, see completion.ts) and hands them to the shell: descriptions
// where the shell shows them (zsh, fish), no space after `deploy/`, file names when the
// candidates allow them (inject's files, --kubeconfig).

export const SHELLS = ['bash', 'zsh', 'fish'] as const
export type Shell = (typeof SHELLS)[number]

const BASH = `# bash completion for mesh. Load it with:
#   source <(mesh completion bash)
# or save it: mesh completion bash > /etc/bash_completion.d/mesh
_mesh_complete() {
  local cur words cword
  if declare -F _get_comp_words_by_ref >/dev/null 2>&1; then
    _get_comp_words_by_ref -n =: cur words cword
  else
    cur="\${COMP_WORDS[COMP_CWORD]}"
    words=("\${COMP_WORDS[@]}")
    cword=$COMP_CWORD
  fi
  local out
  out=$("\${words[0]}" __complete -- "\${words[@]:1:cword}" 2>/dev/null) || return 0
  local directive=\${out##*:}
  [[ $directive =~ ^[0-9]+$ ]] || return 0
  local line candidates=()
  while IFS= read -r line; do
    [[ $line == :* ]] && continue
    candidates+=("\${line%%$'\\t'*}")
  done <<< "$out"
  COMPREPLY=()
  local c
  for c in "\${candidates[@]}"; do
    [[ $c == "$cur"* ]] && COMPREPLY+=("$c")
  done
  if (( \${#COMPREPLY[@]} == 0 )) && (( (directive & 4) == 0 )); then
    local IFS=$'\\n'
    COMPREPLY=($(compgen -f -- "$cur"))
    compopt -o filenames 2>/dev/null
  fi
  if (( (directive & 2) != 0 )); then
    compopt -o nospace 2>/dev/null
  fi
  # With -n =: the words keep ':' and '='; bash still splits on them when it inserts.
  if declare -F __ltrim_colon_completions >/dev/null 2>&1; then
    __ltrim_colon_completions "$cur"
  fi
  return 0
}
complete -F _mesh_complete mesh
`

const ZSH = `#compdef mesh
# zsh completion for mesh. Load it with:
#   source <(mesh completion zsh)
# or save it as _mesh in a directory of $fpath.
_mesh() {
  local -a lines candidates
  local out directive line value desc
  out=$("\${words[1]}" __complete -- "\${(@)words[2,CURRENT]}" 2>/dev/null) || return 1
  lines=("\${(@f)out}")
  directive=\${lines[-1]#:}
  for line in "\${(@)lines[1,-2]}"; do
    value=\${line%%$'\\t'*}
    desc=\${line#*$'\\t'}
    [[ $desc == "$line" ]] && desc=""
    value=\${value//:/\\\\:}
    if [[ -n $desc ]]; then candidates+=("$value:$desc"); else candidates+=("$value"); fi
  done
  if (( \${#candidates} == 0 )); then
    (( (directive & 4) == 0 )) && _files
    return
  fi
  if (( (directive & 2) != 0 )); then
    _describe -t mesh 'mesh' candidates -S ''
  else
    _describe -t mesh 'mesh' candidates
  fi
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _mesh "$@"
else
  compdef _mesh mesh
fi
`

const FISH = `# fish completion for mesh. Load it with:
#   mesh completion fish | source
# or save it: mesh completion fish > ~/.config/fish/completions/mesh.fish
function __mesh_complete
    set -l tokens (commandline -opc)
    set -l current (commandline -ct)
    set -l out ($tokens[1] __complete -- $tokens[2..-1] $current 2>/dev/null)
    or return
    set -l directive (string replace -r '^:' '' -- $out[-1])
    set -e out[-1]
    if test (count $out) -eq 0
        if test (math "bitand($directive, 4)") -eq 0
            __fish_complete_path $current
        end
        return
    end
    printf '%s\\n' $out
end
complete -c mesh -f -a '(__mesh_complete)'
`

export function completionScript(shell: Shell): string {
  return shell === 'bash' ? BASH : shell === 'zsh' ? ZSH : FISH
}
