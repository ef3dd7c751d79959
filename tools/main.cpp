// main.cpp — the lowbit CLI entry point (commands are added in this change).
#include <cstdio>
int main() { std::puts("lowbit"); return 0; }
