// DirFileServer (dirfs): the conformance suite against a fresh host directory.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { newDirFileServer } from '../../src/fileserver/dir-file-server.js';
import { conformance } from './conformance.js';

conformance(
  'dirfs',
  async (options) => {
    const dir = await mkdtemp(join(tmpdir(), 'capns-dirfs-'));
    const fs = await newDirFileServer(dir, options);
    return {
      fs,
      close: async () => {
        await fs.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
  { exclusiveAndAppend: false },
);
