// Preloaded (`--import`) into the worker processes the tests spawn. A test process that dies without cleaning
// up (SIGKILL, a killed vitest) would otherwise leave its workers running for good, holding the run's database,
// topics and CPU; so a worker whose parent is gone kills itself at once, as its run was killed.
const parent = process.ppid;
setInterval(() => {
  try {
    process.kill(parent, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') process.kill(process.pid, 'SIGKILL');
  }
}, 250).unref();
