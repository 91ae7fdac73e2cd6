# Sourced by the scripts that run TypeScript: resolve @experimentation-worker/client to its source (see scripts/tsx.sh).
case " ${NODE_OPTIONS:-} " in
  *" --conditions=experimentation-worker-source "*) ;;
  *) export NODE_OPTIONS="--conditions=experimentation-worker-source${NODE_OPTIONS:+ $NODE_OPTIONS}" ;;
esac
