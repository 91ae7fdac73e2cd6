import { z } from 'zod';
import { contractErrorMessage } from '@experimentation-worker/client/contracts';

// Field errors in the contract's shape, worded as Django REST framework words them (the package's
// contractErrorMessage). Installed as zod's global error map, which sees each issue's input, so every schema
// the worker parses gets it; a message written on a schema itself still wins.
z.config({ customError: contractErrorMessage });

export { fieldErrors } from '@experimentation-worker/client/contracts';
