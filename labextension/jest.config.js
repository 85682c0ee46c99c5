// Unit tests of the extension's pure logic (model, backoff, schema form, formatting).
module.exports = {
  testEnvironment: 'jsdom',
  roots: ['<rootDir>/test'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: { module: 'commonjs', esModuleInterop: true, types: ['jest'], strict: true, isolatedModules: true } }]
  },
  setupFiles: ['<rootDir>/test/setup.js'],
  testRegex: '\\.test\\.ts$',
  moduleFileExtensions: ['ts', 'js']
};
