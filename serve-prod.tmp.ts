import fs from 'node:fs';
import { startProductionTemporal } from './devstack/production-temporal';
(async () => {
  const s = await startProductionTemporal({ adminUrl: 'postgres://postgres@127.0.0.1:5432/postgres', log: (l) => console.error(l) });
  fs.writeFileSync('/tmp/adopt/env-ci.sh', Object.entries(s.clientEnv('ci')).map(([k, v]) => `export ${k}='${v}'`).join('\n') + '\n');
  fs.writeFileSync('/tmp/adopt/env-alice.sh', Object.entries(s.clientEnv('alice')).map(([k, v]) => `export ${k}='${v}'`).join('\n') + '\n');
  console.error('READY');
  const stop = async () => { await s.stop(); process.exit(0); };
  process.on('SIGTERM', stop); process.on('SIGINT', stop);
  setInterval(() => {}, 1 << 30);
})();
