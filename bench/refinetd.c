/* refinetd.c - the simplest possible inetd service, the yardstick for
 * `flypaper inetd`: read standard input until the peer closes, append one
 * line to a log, exit.    refinetd LOGFILE */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char buf[65536], line[64];
	unsigned long long total = 0;
	ssize_t n;

	if (argc != 2)
		return 2;
	while ((n = read(0, buf, sizeof(buf))) > 0)
		total += (unsigned long long)n;
	int fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT, 0644);
	int len = snprintf(line, sizeof(line), "%llu\n", total);
	if (fd < 0 || write(fd, line, (size_t)len) != len)
		return 1;
	close(fd);
	return 0;
}
