import { defineConfig } from 'drizzle-kit';

// `pnpm db:generate` writes SQL migrations for the job tables into drizzle/.
export default defineConfig({
  dialect: 'postgresql',
  schema: './packages/core/src/db/schema.ts',
  out: './drizzle',
});
