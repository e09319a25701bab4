"""Developer tools: the mocks harness shared by the program tests and the offline render."""
