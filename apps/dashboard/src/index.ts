export * from './app.ts';
export { isAdminToken, presentedToken, requireAdminToken } from './auth.ts';
export * from './build.ts';
